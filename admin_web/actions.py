"""What the panel's forms and the JSON API do, in one place: change the database through
``hosting.services`` (validated there) and enqueue the job that makes a runtime follow.

Every function takes the request's session and the acting user, raises ``InvalidInput`` (with
the field) or ``NotFound``, and returns the queued Job. ``enqueue_job`` commits, so a service
change and the job that applies it land in the database together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hosting import services
from hosting.catalog import ServiceSpec, get_kind
from hosting.errors import InvalidInput, NotFound, ServiceSettingError
from hosting.models import App, Host, Job, Membership, Service, Tenant, User
from hosting.queue import LOG_CHANNELS, MAX_LOG_BYTES, PROGRAM_ACTIONS, enqueue_job
from hosting.rendering import render_service
from sqlalchemy import func, select
from sqlalchemy.orm import Session

# The daemons a customer switches on with one click (the seeds' "Povolit Memcached/Redis").
TOGGLE_KINDS = ("memcached", "redis")
CUSTOM_SETTING_KEYS = ("command", "directory", "environment", "stopsignal", "stopwaitsecs")


def _enqueue(
    session: Session, redis: Any, user: User, app: App, kind: str, **arguments: Any
) -> Job:
    return enqueue_job(
        session, redis, kind=kind, host=app.host, app=app, user=user, arguments=arguments or None
    )


def process_names(app: App) -> dict[str, tuple[str, ...]]:
    """Enabled services -> the supervisord process names they run (``worker_00``, ...)."""
    names: dict[str, tuple[str, ...]] = {}
    for service in app.services:
        if not service.enabled:
            continue
        try:
            names[service.name] = render_service(app.root, ServiceSpec.of(service)).process_names
        except ServiceSettingError:
            names[service.name] = (service.name,)
    return names


def program_targets(app: App) -> set[str]:
    """What a program action may name: a service (its whole group), ``group:process`` for a
    service with several processes, or ``all``."""
    targets = {"all"}
    for group, processes in process_names(app).items():
        targets.add(group)
        if processes != (group,):
            targets.update(f"{group}:{process}" for process in processes)
    return targets


def program_action(
    session: Session, redis: Any, user: User, app: App, program: str, action: str
) -> Job:
    if action not in PROGRAM_ACTIONS:
        raise InvalidInput("action", f"must be one of {', '.join(PROGRAM_ACTIONS)}")
    if program not in program_targets(app):
        raise InvalidInput("program", f"app {app.name} runs no program {program!r}")
    return _enqueue(session, redis, user, app, "program_action", action=action, program=program)


def read_log(
    session: Session,
    redis: Any,
    user: User,
    app: App,
    program: str,
    channel: str = "stdout",
    size: int = 64 * 1024,
) -> Job:
    known = {name for processes in process_names(app).values() for name in processes}
    known |= set(process_names(app))
    if program not in known:
        raise InvalidInput("program", f"app {app.name} runs no program {program!r}")
    if channel not in LOG_CHANNELS:
        raise InvalidInput("channel", f"must be one of {', '.join(LOG_CHANNELS)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_LOG_BYTES:
        raise InvalidInput("bytes", f"must be a number of bytes from 1 to {MAX_LOG_BYTES}")
    return _enqueue(
        session, redis, user, app, "read_log", program=program, channel=channel, bytes=size
    )


def _service_or_none(session: Session, app: App, name: str) -> Service | None:
    try:
        return services.service_named(session, app, name)
    except NotFound:
        return None


def set_service_enabled(
    session: Session, redis: Any, user: User, app: App, name: str, enabled: bool
) -> tuple[Service | None, Job]:
    """Enable or disable service ``name``; enabling ``memcached`` or ``redis`` the first time
    adds it with the catalog's defaults. Returns the service (None when there is none to
    disable) and the apply job."""
    service = _service_or_none(session, app, name)
    if service is None:
        if not enabled or name not in TOGGLE_KINDS:
            raise NotFound(f"app {app.name} has no service {name!r}")
        service = services.add_service(session, app, name)
    elif service.kind == "app" and not enabled:
        raise InvalidInput("name", "the app's main program cannot be disabled here; stop it")
    else:
        services.set_service_enabled(session, service, enabled)
    return service, _enqueue(session, redis, user, app, "apply_services")


def save_custom_program(
    session: Session,
    redis: Any,
    user: User,
    app: App,
    name: str,
    settings: Mapping[str, Any],
    *,
    existing: Service | None = None,
) -> tuple[Service, Job]:
    """Add a custom program (``existing`` None) or replace an existing one's settings."""
    unknown = set(settings) - set(CUSTOM_SETTING_KEYS)
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidInput(field, f"unknown setting; known: {', '.join(CUSTOM_SETTING_KEYS)}")
    if existing is None:
        service = services.add_service(session, app, "custom", name, dict(settings))
    else:
        if existing.kind != "custom":
            raise InvalidInput("name", f"{existing.name!r} is not a custom program")
        service = services.update_service(session, existing, dict(settings), replace=True)
    return service, _enqueue(session, redis, user, app, "apply_services")


def remove_custom_program(
    session: Session, redis: Any, user: User, app: App, service: Service
) -> Job:
    if service.kind != "custom":
        raise InvalidInput("name", f"{service.name!r} is not a custom program")
    services.remove_service(session, service)
    return _enqueue(session, redis, user, app, "apply_services")


def tenants_of(session: Session, user: User) -> list[Tenant]:
    statement = select(Tenant).order_by(Tenant.name)
    if not user.is_admin:
        statement = statement.join(Membership).where(Membership.user_id == user.id)
    return list(session.scalars(statement))


def pick_host(session: Session) -> Host:
    """The host with the fewest apps (ties: the oldest host)."""
    count = func.count(App.id)
    statement = (
        select(Host)
        .outerjoin(App, App.host_id == Host.id)
        .group_by(Host.id)
        .order_by(count, Host.id)
        .limit(1)
    )
    host = session.scalars(statement).first()
    if host is None:
        raise InvalidInput("host", "no host exists yet; an admin must add one")
    return host


def create_app(
    session: Session,
    redis: Any,
    user: User,
    *,
    name: str,
    tech: str,
    tenant_ref: str | int | None = None,
    host_ref: str | int | None = None,
    custom_command: str | None = None,
) -> tuple[App, Job]:
    """A new app in one of the user's tenants (the only one when not named), on the host an
    admin names or the least loaded one."""
    tenants = tenants_of(session, user)
    if tenant_ref in (None, ""):
        if len(tenants) != 1:
            raise InvalidInput("tenant", "name the tenant (slug or id) the app belongs to")
        tenant = tenants[0]
    else:
        matching = [t for t in tenants if str(tenant_ref) in (t.slug, str(t.id))]
        if not matching:
            raise InvalidInput("tenant", f"no tenant {tenant_ref!r} of yours")
        tenant = matching[0]
    if host_ref in (None, ""):
        host = pick_host(session)
    elif not user.is_admin:
        raise InvalidInput("host", "only admins choose the host")
    else:
        host = session.scalars(select(Host).where(Host.name == str(host_ref))).first()
        if host is None and str(host_ref).isdigit():
            host = session.get(Host, int(host_ref))
        if host is None:
            raise InvalidInput("host", f"no host {host_ref!r}")
    app = services.create_app(session, tenant, host, name, tech, custom_command or None)
    return app, enqueue_job(session, redis, kind="create_app", host=host, app=app, user=user)


def delete_app(session: Session, redis: Any, user: User, app: App) -> Job:
    return _enqueue(session, redis, user, app, "delete_app")


def kind_doc(kind: str) -> str:
    return get_kind(kind).doc
