"""What each action means, for every surface: the panel's forms, the JSON API and hostingctl.

A command checks its input, changes the database through ``hosting.services`` (which
validates every value) and enqueues the job that makes the app's runtime follow. It never
commits itself: ``enqueue_job`` commits the change and the Job row in one transaction, so a
worker never sees a change without its job, nor a job without its change. Commands raise
``InvalidInput`` (naming the field) or ``NotFound``; the caller rolls back.

Who asks is an ``Actor``:

- a **user** of the panel or the API: scoped to the tenants they are a member of (an admin
  sees every tenant and app), and may name only programs the database says the app runs;
- an **operator** at ``hostingctl``: no User row, recorded as e.g. ``cli:root``; sees every
  tenant, host and app, and may name any program the app's runtime has (a tenant's own file
  in ``conf/supervisor.d`` too): the job checks the name against the runtime.

Names a program may not have (``supervisor*``, ``app`` for anything but the main program,
``all``) are the catalog's rule (``ServiceKind.check_name``), which every service passes.

Every job is titled here by what it does ("Enable Redis", "Add program worker", "Restart
app"): an ``apply_services`` job's kind and arguments do not say what changed, the command
does. Reading a log is no job at all (``hosting.log_reads``): it changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hosting import services, spec_plan
from hosting.app_spec import AppSpec
from hosting.catalog import TOGGLE_KINDS, ServiceSpec
from hosting.db import MAX_ID
from hosting.errors import InvalidInput, NotFound, ServiceSettingError
from hosting.log_reads import DEFAULT_LOG_BYTES, READ_SECONDS, check_log_request, request_log
from hosting.models import App, Host, Job, Membership, Service, Tenant, User
from hosting.queue import check_arguments, enqueue_job
from hosting.rendering import render_service
from hosting.spec_plan import Plan, Step


@dataclass(frozen=True)
class Actor:
    """Who asks for an action: a panel/API ``user``, or an operator (``user`` None)."""

    label: str  # the audit record's "who": ``user:<e-mail>``, ``cli:<login>``
    user: User | None = None

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(f"user:{user.email}", user)

    @classmethod
    def operator(cls, label: str) -> Actor:
        return cls(label)

    @property
    def is_operator(self) -> bool:
        return self.user is None

    @property
    def sees_everything(self) -> bool:
        return self.user is None or self.user.is_admin


def _enqueue(
    session: Session, redis: Any, actor: Actor, app: App, kind: str, title: str, **arguments: Any
) -> Job:
    return enqueue_job(
        session,
        redis,
        kind=kind,
        host=app.host,
        app=app,
        user=actor.user,
        actor=actor.label,
        arguments=arguments or None,
        title=title,
    )


# -- titles: what a job does, in words --------------------------------------------------------

KIND_TITLES = {
    "create_app": "Create app",
    "apply_services": "Apply the app's settings",
    "delete_app": "Delete app",
}
RETRY_PREFIX = "Retry: "


def service_label(service: Service) -> str:
    """ "Redis", "Memcached", "app", "program worker": how titles and pages name it."""
    if service.kind in TOGGLE_KINDS:
        return service.kind.capitalize()
    return "app" if service.kind == "app" else f"program {service.name}"


def program_title(action: str, program: str) -> str:
    """ "Restart app", "Stop program worker", "Start all programs"."""
    if program == "app":
        what = "app"
    elif program == "all":
        what = "all programs"
    else:
        what = f"program {program}"
    return f"{action.capitalize()} {what}"


def job_title(job: Job) -> str:
    """The job's stored title; for rows from before titles were stored, one made from its
    kind and arguments."""
    if job.title:
        return job.title
    arguments = job.arguments or {}
    if job.kind == "program_action":
        return program_title(str(arguments.get("action", "?")), str(arguments.get("program", "?")))
    return KIND_TITLES.get(job.kind, job.kind)


# -- what an actor sees --------------------------------------------------------------------


def tenants_of(session: Session, actor: Actor) -> list[Tenant]:
    statement = select(Tenant).order_by(Tenant.name)
    if actor.user is not None and not actor.user.is_admin:
        statement = statement.join(Membership).where(Membership.user_id == actor.user.id)
    return list(session.scalars(statement))


def find_app(session: Session, actor: Actor, name: str) -> App:
    """The app called ``app`` or ``host/app`` that ``actor`` may see; InvalidInput when the
    name is on several hosts, NotFound when there is none."""
    host_name, _, app_name = name.rpartition("/")
    statement = select(App).join(Host).where(App.name == app_name)
    if host_name:
        statement = statement.where(Host.name == host_name)
    if actor.user is not None and not actor.user.is_admin:
        statement = statement.join(Membership, Membership.tenant_id == App.tenant_id).where(
            Membership.user_id == actor.user.id
        )
    apps = list(session.scalars(statement.order_by(Host.name)))
    if not apps:
        raise NotFound(f"no app {name!r}")
    if len(apps) > 1:
        hosts = ", ".join(f"{app.host.name}/{app.name}" for app in apps)
        raise InvalidInput("app", f"{name!r} is on several hosts; say which: {hosts}")
    return apps[0]


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


def log_programs(app: App) -> set[str]:
    """What a log may be read of: a service, or one of its processes."""
    names = process_names(app)
    return set(names) | {process for processes in names.values() for process in processes}


def _check_program(actor: Actor, app: App, program: str, known: Collection[str]) -> None:
    # An operator's names are checked by the runtime itself (see the module doc).
    if not actor.is_operator and program not in known:
        raise InvalidInput("program", f"app {app.name} runs no program {program!r}")


# -- programs and logs -----------------------------------------------------------------------


def program_action(
    session: Session, redis: Any, actor: Actor, app: App, program: str, action: str
) -> Job:
    """Start, stop or restart ``program`` (a service, ``group:process`` or ``all``)."""
    arguments = check_arguments("program_action", {"action": action, "program": program})
    _check_program(actor, app, program, program_targets(app))
    title = program_title(action, program)
    return _enqueue(session, redis, actor, app, "program_action", title, **arguments)


def read_log(
    session: Session,
    redis: Any,
    actor: Actor,
    app: App,
    program: str,
    channel: str = "stdout",
    size: int = DEFAULT_LOG_BYTES,
    *,
    timeout: int = READ_SECONDS,
) -> str:
    """The tail of a program's log, read by the app's host (no Job: nothing changes);
    ``hosting.log_reads.LogUnavailable`` when the host cannot say in time.

    The session's transaction is ended (rolled back: a read has nothing to keep) before
    waiting: on SQLite every transaction holds the database's write lock (``BEGIN
    IMMEDIATE``, see ``hosting.db``), and the worker that answers must read the app's rows.
    """
    program, channel, size = check_log_request(program, channel, size)
    _check_program(actor, app, program, log_programs(app))
    queue, app_id = app.host.queue, app.id
    session.rollback()
    return request_log(redis, queue, app_id, program, channel, size, timeout=timeout)


# -- services ------------------------------------------------------------------------------


def set_service_enabled(
    session: Session, redis: Any, actor: Actor, app: App, name: str, enabled: bool
) -> tuple[Service, Job]:
    """Enable or disable service ``name``; enabling ``memcached`` or ``redis`` the first time
    adds it with the catalog's defaults. Returns the service and the apply job."""
    service = _set_enabled(session, app, name, enabled)
    title = f"{'Enable' if enabled else 'Disable'} {service_label(service)}"
    return service, _enqueue(session, redis, actor, app, "apply_services", title)


def _set_enabled(session: Session, app: App, name: str, enabled: bool) -> Service:
    try:
        service: Service | None = services.service_named(session, app, name)
    except NotFound:
        service = None
    if service is None:
        if not enabled or name not in TOGGLE_KINDS:
            raise NotFound(f"app {app.name} has no service {name!r}")
        return services.add_service(session, app, name)
    if service.kind == "app" and not enabled:
        raise InvalidInput("name", "the app's main program cannot be disabled here; stop it")
    return services.set_service_enabled(session, service, enabled)


def change_service_settings(
    session: Session,
    redis: Any,
    actor: Actor,
    app: App,
    name: str,
    settings: Mapping[str, Any],
    *,
    replace: bool = False,
) -> tuple[Service, Job]:
    """Change service ``name``'s settings: merged over its own (a None value restores the
    default), or replacing them all with ``replace``."""
    service = services.service_named(session, app, name)
    services.update_service(session, service, settings, replace=replace)
    title = f"Change {service_label(service)}"
    return service, _enqueue(session, redis, actor, app, "apply_services", title)


def save_custom_program(
    session: Session,
    redis: Any,
    actor: Actor,
    app: App,
    name: str,
    settings: Mapping[str, Any],
    *,
    existing: Service | None = None,
) -> tuple[Service, Job]:
    """Add a custom program (``existing`` None) or replace an existing one's settings."""
    if existing is None:
        service = services.add_service(session, app, "custom", name, dict(settings))
        title = f"Add program {service.name}"
    else:
        if existing.kind != "custom":
            raise InvalidInput("name", f"{existing.name!r} is not a custom program")
        service = services.update_service(session, existing, dict(settings), replace=True)
        title = f"Change program {service.name}"
    return service, _enqueue(session, redis, actor, app, "apply_services", title)


def custom_program(app: App, name: str) -> Service:
    """The app's custom program ``name``; NotFound when it has none of that name."""
    for service in app.services:
        if service.name == name and service.kind == "custom":
            return service
    raise NotFound(f"app {app.name} has no custom program {name!r}")


def remove_custom_program(
    session: Session, redis: Any, actor: Actor, app: App, service: Service
) -> Job:
    if service.kind != "custom":
        raise InvalidInput("name", f"{service.name!r} is not a custom program")
    title = f"Remove program {service.name}"
    services.remove_service(session, service)
    return _enqueue(session, redis, actor, app, "apply_services", title)


# -- app files -----------------------------------------------------------------------------


def preview_spec(app: App, spec: AppSpec) -> Plan:
    """What applying ``spec`` to ``app`` would change (nothing is changed)."""
    return spec_plan.plan(app, spec)


def apply_spec(
    session: Session, redis: Any, actor: Actor, app: App, spec: AppSpec
) -> tuple[Plan, Job | None]:
    """Make ``app`` what ``spec`` says, with the same rules as the panel's actions, in one
    apply job; none at all when nothing differs (so applying a file twice changes nothing
    the second time). SpecError names the file's field when a value is refused."""
    plan = spec_plan.plan(app, spec)
    if not plan.changes:
        return plan, None
    for step in plan.steps:
        with plan.errors_in_file(step):
            _carry_out(session, app, step)
    session.refresh(app)  # its services, as changed
    names = ", ".join(step.name for step in plan.steps)
    count = len(plan.changes)
    title = f"Apply app file: {count} change{'s' if count != 1 else ''} ({names})"
    return plan, _enqueue(session, redis, actor, app, "apply_services", title[:200])


def _carry_out(session: Session, app: App, step: Step) -> None:
    """One step of a plan, through the same ``hosting.services`` calls as the panel's."""
    service, entry = step.service, step.entry
    if service is None:
        assert entry is not None
        services.add_service(
            session, app, step.kind, step.name, step.settings, enabled=entry.enabled
        )
    elif entry is None:  # left out of the file: a program goes, a service is switched off
        if service.kind == "custom":
            services.remove_service(session, service)
        else:
            services.set_service_enabled(session, service, False)
    else:
        if service.enabled and not entry.enabled:
            services.set_service_enabled(session, service, False)
        if step.settings_differ:
            services.update_service(session, service, step.settings, replace=True)
        if entry.enabled and not service.enabled:
            services.set_service_enabled(session, service, True)


def apply_services(session: Session, redis: Any, actor: Actor, app: App) -> Job:
    """Write the app's files and update its runtime again, changing nothing in the database."""
    return _enqueue(session, redis, actor, app, "apply_services", KIND_TITLES["apply_services"])


def retry_job(session: Session, redis: Any, actor: Actor, job: Job) -> Job:
    """Run failed ``job`` again as a new job (its own audit record), titled after it. An
    apply makes the runtime what the database says now, so a retry after the cause is fixed
    (a tenant's file, a missing script) brings desired and actual state together again."""
    app, user = job.app, actor.user
    if app is None or (user is not None and not services.can_access(session, user, app)):
        raise NotFound(f"no job {job.id}")
    if job.status != "failed":
        raise InvalidInput("job", f"only a failed job is retried; this one is {job.status}")
    if job.kind not in ("create_app", "apply_services", "program_action"):
        raise InvalidInput("job", f"a {job.kind} job is not retried; ask for it again")
    title = job_title(job)
    if not title.startswith(RETRY_PREFIX):
        title = RETRY_PREFIX + title
    return _enqueue(session, redis, actor, app, job.kind, title, **dict(job.arguments or {}))


# -- apps ----------------------------------------------------------------------------------


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


def _tenant(session: Session, actor: Actor, tenant_ref: str | int | None) -> Tenant:
    tenants = tenants_of(session, actor)
    if tenant_ref in (None, ""):
        if len(tenants) != 1:
            raise InvalidInput("tenant", "name the tenant (slug or id) the app belongs to")
        return tenants[0]
    matching = [t for t in tenants if str(tenant_ref) in (t.slug, str(t.id))]
    if not matching:
        whose = "" if actor.is_operator else " of yours"
        raise InvalidInput("tenant", f"no tenant {tenant_ref!r}{whose}")
    return matching[0]


def _host(session: Session, actor: Actor, host_ref: str | int | None) -> Host:
    if host_ref in (None, ""):
        return pick_host(session)
    if not actor.sees_everything:
        raise InvalidInput("host", "only admins choose the host")
    host = session.scalars(select(Host).where(Host.name == str(host_ref))).first()
    if host is None and re.fullmatch(r"[0-9]{1,10}", str(host_ref)) and int(host_ref) <= MAX_ID:
        host = session.get(Host, int(host_ref))
    if host is None:
        raise InvalidInput("host", f"no host {host_ref!r}")
    return host


def create_app(
    session: Session,
    redis: Any,
    actor: Actor,
    *,
    name: str,
    tech: str,
    tenant_ref: str | int | None = None,
    host_ref: str | int | None = None,
    custom_command: str | None = None,
) -> tuple[App, Job]:
    """A new app in one of the actor's tenants (the only one when not named), on the host an
    admin or operator names, or else the least loaded one."""
    tenant = _tenant(session, actor, tenant_ref)
    host = _host(session, actor, host_ref)
    app = services.create_app(session, tenant, host, name, tech, custom_command or None)
    return app, _enqueue(session, redis, actor, app, "create_app", KIND_TITLES["create_app"])


def delete_app(session: Session, redis: Any, actor: Actor, app: App) -> Job:
    """Stop everything and unregister the app's runtime; its logs and data stay."""
    return _enqueue(session, redis, actor, app, "delete_app", KIND_TITLES["delete_app"])
