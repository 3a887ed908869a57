"""The enqueue-side API used by the panel and the operator CLI: database only, no Redis.

Every function validates its input completely before it adds anything to the session, and
raises ``InvalidInput`` / ``ServiceSettingError`` naming the field otherwise. Functions flush
(so ids exist and constraint errors surface here) but never commit: the caller owns the
transaction (see ``hosting.db.session_scope``).

TCP ports are unique within an app: every app runs in a network namespace of its own (see
workers.container), so its app listens on 8080, its Redis on 6379 and its memcached on 11211
whatever other apps do. Ports a user did not choose are allocated from the kind's default
upwards, past the app's other services.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hosting import validation as v
from hosting.catalog import TECHS, ServiceSpec, get_kind
from hosting.errors import InvalidInput, NotFound, ServiceSettingError, raise_all
from hosting.job_records import finish_job, jobs_visible_to, record_job, start_job  # noqa: F401
from hosting.login_sessions import end_user_sessions
from hosting.models import (
    ROLES,
    App,
    Host,
    Membership,
    Service,
    Tenant,
    User,
    app_root_for,
)
from hosting.passwords import hash_password, verify_password
from hosting.rendering import render_service

APP_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
HOST_NAME_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
QUEUE_RE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _exists(session: Session, statement: Any) -> bool:
    return session.scalars(statement.limit(1)).first() is not None


def _matching(field: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(field, f"{value!r} is not a valid {what}")
    return value


# -- hosts, tenants, users --------------------------------------------------------------


def create_host(session: Session, name: str, apps_root: str, queue: str | None = None) -> Host:
    """A host whose workers listen on ``queue`` (default ``host.<name>``)."""
    name = _matching("name", name, HOST_NAME_RE, "host name (a-z, 0-9, '.', '-')")
    queue = _matching("queue", queue or f"host.{name}", QUEUE_RE, "queue name")
    try:
        root = v.app_root(apps_root)
    except ServiceSettingError as exc:
        raise InvalidInput("apps_root", exc.message) from None
    if _exists(session, select(Host).where(Host.name == name)):
        raise InvalidInput("name", f"a host named {name!r} exists already")
    if _exists(session, select(Host).where(Host.queue == queue)):
        raise InvalidInput("queue", f"queue {queue!r} belongs to another host")
    host = Host(name=name, queue=queue, apps_root=root)
    session.add(host)
    session.flush()
    return host


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:64].strip("-")


def create_tenant(session: Session, name: str, slug: str | None = None) -> Tenant:
    """A customer company; ``slug`` defaults to one made from the name."""
    name = (name or "").strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise InvalidInput("name", "a company name needs 1 to 200 printable characters")
    slug = _matching("slug", slug or slugify(name), SLUG_RE, "slug (a-z, 0-9, '-')")
    if _exists(session, select(Tenant).where(Tenant.slug == slug)):
        raise InvalidInput("slug", f"slug {slug!r} is taken")
    tenant = Tenant(name=name, slug=slug)
    session.add(tenant)
    session.flush()
    return tenant


def create_user(session: Session, email: str, password: str, *, is_admin: bool = False) -> User:
    email = (email or "").strip().lower()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        raise InvalidInput("email", f"{email!r} is not an e-mail address")
    if len(password or "") < 8:
        raise InvalidInput("password", "must have at least 8 characters")
    if _exists(session, select(User).where(User.email == email)):
        raise InvalidInput("email", f"{email} is registered already")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise InvalidInput("password", str(exc)) from None
    user = User(email=email, password_hash=password_hash, is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    email = (email or "").strip().lower()
    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    if user is None or not user.is_active:
        return None
    return user if verify_password(password, user.password_hash) else None


def add_member(session: Session, tenant: Tenant, user: User, role: str = "member") -> Membership:
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    existing = session.scalars(
        select(Membership).where(Membership.tenant_id == tenant.id, Membership.user_id == user.id)
    ).one_or_none()
    if existing is not None:
        existing.role = role
        session.flush()
        return existing
    membership = Membership(tenant=tenant, user=user, role=role)
    session.add(membership)
    session.flush()
    return membership


def add_member_by_email(session: Session, tenant: Tenant, email: str, role: str) -> Membership:
    """Make the user with ``email`` a ``role`` of ``tenant`` (the admin pages and API)."""
    email = (email or "").strip().lower()
    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    if user is None:
        raise InvalidInput("email", f"no user {email}")
    return add_member(session, tenant, user, role)


def set_user_active(session: Session, admin: User, user: User, active: bool) -> User:
    """(De)activate ``user``; a deactivated user is logged out everywhere, for good, and
    their API tokens stop working. An admin cannot deactivate themselves."""
    if user.id == admin.id and not active:
        raise InvalidInput("active", "you cannot deactivate yourself")
    user.is_active = active
    if not active:
        end_user_sessions(session, user)
    session.flush()
    return user


def row_or_404(session: Session, model: Any, row_id: int, what: str) -> Any:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} {row_id}")
    return row


# -- apps and who sees them -------------------------------------------------------------


def _app_command(tech: str, custom_command: str | None) -> str | None:
    if tech not in TECHS:
        raise InvalidInput("tech", f"must be one of {', '.join(TECHS)}")
    if tech == "custom":
        if custom_command is None:
            raise InvalidInput("custom_command", "a custom app needs a command")
        return v.command("custom_command", custom_command)
    if custom_command is not None:
        raise InvalidInput("custom_command", f"only custom apps take a command, not {tech}")
    return None


def create_app(
    session: Session,
    tenant: Tenant,
    host: Host,
    name: str,
    tech: str,
    custom_command: str | None = None,
) -> App:
    """An app of ``tenant`` on ``host``, with its ``app`` service (the main program)."""
    errors: list[InvalidInput] = []  # the name's and the command's, both at once
    try:
        name = _matching("name", name, APP_NAME_RE, "app name (a-z, 0-9, '-', at most 40)")
        try:
            v.runtime_name("name", name)  # the host runtime runs it as a program, tenant-<name>
        except ServiceSettingError as exc:
            raise InvalidInput("name", exc.message) from None
    except InvalidInput as exc:
        errors.append(exc)
    try:
        custom_command = _app_command(tech, custom_command)
    except InvalidInput as exc:
        errors.append(exc)
    raise_all(errors)
    if _exists(session, select(App).where(App.host_id == host.id, App.name == name)):
        raise InvalidInput("name", f"host {host.name} has an app named {name!r} already")
    try:
        v.app_root(app_root_for(host.apps_root, name))
    except ServiceSettingError as exc:
        raise InvalidInput("name", exc.message) from None
    app = App(tenant=tenant, host=host, name=name, tech=tech, custom_command=custom_command)
    session.add(app)
    session.flush()
    add_service(session, app, "app")
    return app


def can_access(session: Session, user: User, app: App) -> bool:
    """Admins reach every app; others the apps of tenants they are members of."""
    if user.is_admin:
        return True
    return _exists(
        session,
        select(Membership).where(
            Membership.user_id == user.id, Membership.tenant_id == app.tenant_id
        ),
    )


def apps_visible_to(session: Session, user: User) -> list[App]:
    """The apps ``user`` may see, by tenant then name (all of them for an admin)."""
    statement = select(App).options(selectinload(App.host), selectinload(App.tenant))
    if not user.is_admin:
        statement = statement.join(Membership, Membership.tenant_id == App.tenant_id).where(
            Membership.user_id == user.id
        )
    return list(session.scalars(statement.order_by(App.tenant_id, App.name, App.id)))


def get_app_for(session: Session, user: User, app_id: int) -> App:
    """App ``app_id`` if ``user`` may see it; NotFound otherwise (not telling which)."""
    app = session.get(App, app_id)
    if app is None or not can_access(session, user, app):
        raise NotFound(f"no app {app_id}")
    return app


# -- services -----------------------------------------------------------------------------


def _ports_in_use(session: Session, app: App, exclude: Service | None) -> dict[int, Service]:
    used: dict[int, Service] = {}
    rows = session.scalars(
        select(Service)
        .where(Service.app_id == app.id, Service.enabled.is_(True))
        .options(selectinload(Service.app))
    )
    for service in rows:
        if service is exclude:
            continue
        kind = get_kind(service.kind)
        try:
            values = kind.effective(service.settings, service.app.tech)
        except ServiceSettingError:
            continue  # an old row the catalog no longer accepts holds no port we can tell
        for port in kind.tcp_ports(values).values():
            used[port] = service
    return used


def _assign_ports(
    session: Session, app: App, spec: ServiceSpec, current: Service | None
) -> dict[str, Any]:
    """The overrides with free ports filled in where the user chose none; a port the user
    chose (or that was allocated before) which another service holds is refused."""
    kind = get_kind(spec.kind)
    overrides = dict(spec.settings)
    if spec.kind == "nginx" and "upstream_port" not in overrides:
        overrides["upstream_port"] = _app_port(app)  # follow the app, wherever it listens
    used = _ports_in_use(session, app, current)
    wanted = kind.tcp_ports(kind.effective(overrides, spec.tech))
    taken = set(used)
    for field, port in wanted.items():
        if field in overrides:
            if port in used:
                holder = used[port]
                raise ServiceSettingError(field, f"port {port} is used by {holder.name!r}")
            taken.add(port)
    for field, port in wanted.items():
        if field in overrides:
            continue
        while port in taken:
            port += 1
        if port > 65535:
            raise ServiceSettingError(field, "no free port left")
        taken.add(port)
        if port != wanted[field]:
            overrides[field] = port
    return overrides


def _app_port(app: App) -> int:
    for service in app.services:
        if service.kind == "app":
            return get_kind("app").effective(service.settings, app.tech)["port"]
    return 8080


def input_errors(app: App, kind: str, name: Any, settings: Any) -> list[InvalidInput]:
    """Everything wrong with a service's name and settings, all at once (a form shows each
    beside its field); empty when both pass. Ports and the rendered text are checked after."""
    service_kind = get_kind(kind)
    errors: list[InvalidInput] = []
    try:
        service_kind.check_name(name)
    except InvalidInput as exc:
        errors.append(exc)
    try:
        service_kind.clean(settings, app.tech)
    except InvalidInput as exc:
        errors.extend(exc.every)
    return errors


def _validated(
    session: Session,
    app: App,
    kind: str,
    name: str,
    settings: Any,
    *,
    current: Service | None,
    check_ports: bool,
) -> dict[str, Any]:
    """Normalized overrides for a service of ``app`` (``current`` when it exists already),
    after every check passed."""
    service_kind = get_kind(kind)
    raise_all(input_errors(app, kind, name, settings))
    overrides = service_kind.clean(settings, app.tech)
    if check_ports:
        spec = ServiceSpec(kind, name, overrides, app.tech, app.custom_command)
        overrides = _assign_ports(session, app, spec, current)
    spec = ServiceSpec(kind, name, overrides, app.tech, app.custom_command)
    render_service(app.root, spec)  # the whole pipeline: names, paths, values, text
    return overrides


def add_service(
    session: Session,
    app: App,
    kind: str,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    *,
    enabled: bool = True,
) -> Service:
    """A new service in ``app``; ``name`` defaults to the kind's usual name."""
    service_kind = get_kind(kind)
    name = name if name is not None else service_kind.default_name
    if name is None:
        raise ServiceSettingError("name", f"a {kind} service needs a name")
    if _exists(session, select(Service).where(Service.app_id == app.id, Service.name == name)):
        raise ServiceSettingError("name", f"app {app.name} has a service named {name!r} already")
    overrides = _validated(session, app, kind, name, settings, current=None, check_ports=enabled)
    service = Service(app=app, kind=kind, name=name, settings=overrides, enabled=enabled)
    session.add(service)
    session.flush()
    return service


def update_service(
    session: Session, service: Service, settings: Mapping[str, Any], *, replace: bool = False
) -> Service:
    """Change settings: merged over the current ones (a None value restores the default),
    or replacing them all with ``replace=True``."""
    if not isinstance(settings, Mapping):
        raise ServiceSettingError("settings", "must be a mapping of setting names to values")
    old_app_port = _app_port(service.app)
    merged = {} if replace else dict(service.settings or {})
    merged.update(settings)
    merged = {key: value for key, value in merged.items() if value is not None}
    overrides = _validated(
        session,
        service.app,
        service.kind,
        service.name,
        merged,
        current=service,
        check_ports=service.enabled,
    )
    service.settings = overrides
    if service.kind == "app":
        _follow_app_port(service.app, old_app_port)
    session.flush()
    return service


def _follow_app_port(app: App, old_port: int) -> None:
    """nginx services that proxied to the app's old port proxy to its new one."""
    new_port = _app_port(app)
    for service in app.services:
        if service.kind == "nginx" and service.settings.get("upstream_port") == old_port:
            service.settings = {**service.settings, "upstream_port": new_port}


def set_service_enabled(session: Session, service: Service, enabled: bool) -> Service:
    if enabled and not service.enabled:
        # Re-check: its port may have been given to another service meanwhile.
        service.settings = _validated(
            session,
            service.app,
            service.kind,
            service.name,
            service.settings,
            current=service,
            check_ports=True,
        )
    service.enabled = enabled
    session.flush()
    return service


def enable_service(session: Session, service: Service) -> Service:
    return set_service_enabled(session, service, True)


def disable_service(session: Session, service: Service) -> Service:
    return set_service_enabled(session, service, False)


def remove_service(session: Session, service: Service) -> None:
    if service.kind == "app":
        raise ServiceSettingError("name", "the app's main program cannot be removed; disable it")
    session.delete(service)
    session.flush()


def service_named(session: Session, app: App, name: str) -> Service:
    service = session.scalars(
        select(Service).where(Service.app_id == app.id, Service.name == name)
    ).one_or_none()
    if service is None:
        raise NotFound(f"app {app.name} has no service {name!r}")
    return service
