"""``run_job(job_id)``: what an RQ worker runs for every hosting Job.

The only argument is the Job's id; rows are loaded here, in this process. The app's lock is
held for the whole job (two jobs never interleave on one app). The outcome is written to the
Job row (its audit record): ``done`` with a result, or ``failed`` with the error and the tail
of the log of the program at fault.

Each attempt is claimed in the Job row first (``job_records.start_job``): a job Redis handed
out twice is still run by one worker at a time, and the row names the process running it
(``workers.liveness``), so the host's reconciler can tell a lost attempt from a slow one.

Errors come in two sorts. Permanent ones (a refused config, a program that will not start, a
missing row) finish the Job as failed: retrying would fail the same way. Anything else (a
runtime not up yet, a connection refused, a timeout, a crash) is a failed attempt: the Job
row schedules the next one, or fails the job after the last (``hosting.job_recovery``, the
one retry policy; RQ retries nothing). Every step converges (files are written atomically
and only when different, the runtime update only does what is missing), so a retried job
repairs what a killed one left half done, and a finished job run again changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hosting.catalog import get_kind
from hosting.db import make_engine, make_read_engine, make_session_factory, session_scope
from hosting.errors import HostingError
from hosting.identities import instance_id, user_prefix
from hosting.job_records import AppBusy, finish_job, get_job, start_job
from hosting.job_recovery import attempt_failed
from hosting.live_events import publish_app_event
from hosting.models import App, Job, utcnow
from hosting.rendering import render_app_base, render_enabled_services
from hosting.status import status_key
from sqlalchemy.orm import Session, selectinload, sessionmaker

from workers import metrics
from workers.container.validate import SandboxFailed
from workers.files import ConfigRefused, write_app_config
from workers.host import HostConfig
from workers.layout import (
    AppLayout,
    LayoutError,
    Owner,
    app_owner,
    app_user_name,
    find_owner,
    prepare_root,
    retire_root,
    retire_user,
)
from workers.liveness import process_token
from workers.locks import AppLock, LockTimeout
from workers.peer import PeerRefused
from workers.redact import tenant_safe
from workers.runtime import ProgramFailed, Runtime, RuntimeRefused, RuntimeUnavailable
from workers.tenants import (
    config_check,
    connect,
    container_spec,
    is_registered,
    register_app,
    runtime_root,
    unregister_app,
    wait_tenant_up,
    write_front_route,
)

log = logging.getLogger(__name__)

PERMANENT_ERRORS = (
    ConfigRefused,
    ProgramFailed,
    RuntimeRefused,
    LayoutError,
    PeerRefused,  # the app's socket is not its runtime's: a tenant swapped it
    HostingError,  # InvalidInput, ServiceSettingError, NotFound
)
RUNTIME_UP_SECONDS = 20.0
CLAIM_POLL_SECONDS = 0.25  # how often a job whose app is busy (in the database) looks again


@dataclass
class Context:
    """What a job runs with: its host's settings, Redis and session factories: ``reads``
    for what only reads (``make_read_engine``: on SQLite a deferred BEGIN that waits for no
    writer), where the IMMEDIATE one of ``sessions`` queues behind every other process's
    write."""

    host: HostConfig
    redis: Any
    sessions: sessionmaker[Session]
    reads: sessionmaker[Session]
    attempt: int | None = None  # the attempt this process claimed and ran, if any


class JobFailed(Exception):
    """A permanent failure with a log tail to record."""

    def __init__(self, message: str, log_tail: str | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail


# -- entry point -------------------------------------------------------------------------


def run_job(job_id: str) -> Any:
    """The RQ entry point (``workers.job_handlers.run_job``): runs Job ``job_id`` on this host."""
    with job_context() as context:
        try:
            return execute(context, job_id)
        finally:  # counted in Redis: every worker process adds to the host's counts
            metrics.count_attempt(context, job_id, context.attempt)


@contextlib.contextmanager
def job_context() -> Iterator[Context]:
    """What a function the workers run works with: this host's settings (read again for
    every job: ``hostingctl host-config`` may change them), the Redis of the RQ job being
    run, and this process's database sessions (``_sessions``)."""
    from redis import Redis
    from rq import get_current_job

    host = HostConfig.load()
    current = get_current_job()
    redis = current.connection if current is not None else Redis.from_url(host.redis_url)
    yield Context(
        host, redis, _sessions(host.database_url), _sessions(host.database_url, read_only=True)
    )


_engines: dict[tuple[int, str, bool], sessionmaker[Session]] = {}


def _sessions(url: str, *, read_only: bool = False) -> sessionmaker[Session]:
    """One engine (and its pool of connections) per database, kind and process, kept
    for every later job: a worker runs job after job in one process (``workers.worker``),
    and a new engine's first connection cost each job its set-up (SQLite: open, pragmas;
    PostgreSQL: a login). Keyed by the process too: a forked child never uses its parent's
    connections."""
    key = (os.getpid(), url, read_only)
    if key not in _engines:
        engine = make_read_engine(url) if read_only else make_engine(url)
        _engines[key] = make_session_factory(engine)
    return _engines[key]


def open_databases(url: str) -> None:
    """Open this process's engines on ``url`` (both kinds) with one connection each,
    before any job: a worker's first job otherwise paid them (the first click on each of a
    host's workers was slower than the rest by that)."""
    for read_only in (False, True):
        with _sessions(url, read_only=read_only)() as session:
            session.connection()


def execute(context: Context, job_id: str) -> Any:
    """Run one attempt of Job ``job_id`` under its app's lock and record the outcome (see
    the module doc). Returns the result, or None when there was nothing to run."""
    with session_scope(context.reads) as session:
        job = session.get(Job, job_id)
        if job is None:
            log.warning("job %s: no such row, nothing to do", job_id)
            return None
        if job.finished:
            return job.result  # idempotent: a finished job is not run again
        app_id = job.app_id
    runner = process_token()
    with _app_lock(context, app_id, job_id):
        claimed = _claim(context, job_id, runner)
        if claimed is None:  # finished meanwhile, or another worker's attempt
            with session_scope(context.sessions) as session:
                return get_job(session, job_id).result
        kind, arguments, attempts = claimed
        context.attempt = attempts
        _announce(context, app_id)  # queued -> running
        log.info("job %s: %s %s (attempt %d)", job_id, kind, arguments, attempts)
        try:
            result = dispatch(context, kind, app_id, arguments)
        except PERMANENT_ERRORS as exc:
            _finish(context, job_id, error=str(exc), log_tail=getattr(exc, "log_tail", None))
            return None
        except JobFailed as exc:
            _finish(context, job_id, error=str(exc), log_tail=exc.log_tail)
            return None
        except BaseException as exc:
            # The tenant reads this: what went wrong, but no traceback and no host path
            # (the worker's own log has both).
            log.exception("job %s: %s failed", job_id, kind)
            message = f"{type(exc).__name__}: {tenant_safe(str(exc))}"
            with session_scope(context.sessions) as session:
                attempt_failed(session, job_id, message, runner=runner, now=utcnow())
            _announce(context, app_id)  # queued again, or failed after the last attempt
            if not isinstance(exc, Exception):
                raise  # SystemExit and the like: the process is going away
            return None
        try:
            _finish(context, job_id, result=result)
        except HostingError:  # a value JSON cannot hold, from a runtime that answered oddly
            _finish(context, job_id, error="the app's runtime answered what cannot be recorded")
            return None
        return result


@contextlib.contextmanager
def _app_lock(context: Context, app_id: int | None, job_id: str) -> Iterator[None]:
    if app_id is None:
        yield
        return
    timeout = context.host.job_timeout + 60
    lock = AppLock(context.redis, app_id, job_id, timeout=timeout, wait=timeout)
    try:
        lock.acquire()
    except LockTimeout as exc:
        # Not claimed: the job stays queued, and the reconciler pushes it again.
        raise RuntimeUnavailable(str(exc)) from exc
    try:
        yield
    finally:
        try:
            lock.release()
        except Exception as exc:  # Redis away: the outcome is recorded, the lock expires
            log.warning("job %s: the app's lock was not released: %s", job_id, exc)


def _claim(context: Context, job_id: str, runner: str) -> tuple[str, dict[str, Any], int] | None:
    """Claim the job's attempt (``start_job``): its kind, arguments and attempt number, or
    None when it is not to be run here. While another job of the app runs (Redis lost the
    app's lock), wait as long as the lock would have."""
    # The lease: RQ's job timeout, and the worker's own kill 60 s later; none runs longer.
    lease = context.host.job_timeout + 60
    deadline = time.monotonic() + lease
    while True:
        try:
            with session_scope(context.sessions) as session:
                job = start_job(session, job_id, runner=runner, lease_seconds=lease)
                if job is None:
                    return None
                return job.kind, dict(job.arguments or {}), job.attempts
        except AppBusy as exc:
            if time.monotonic() > deadline:
                raise RuntimeUnavailable(str(exc)) from exc  # still queued: pushed again
            time.sleep(CLAIM_POLL_SECONDS)


def _finish(context: Context, job_id: str, **outcome: Any) -> None:
    with session_scope(context.sessions) as session:
        app_id = finish_job(session, job_id, **outcome).app_id
    _announce(context, app_id)  # done or failed


def _announce(context: Context, app_id: int | None) -> None:
    """Tell the app's live pages that one of its jobs changed state (after the commit, so
    they read the new state). Only a hint: with Redis away the job goes on."""
    if app_id is None:
        return
    try:
        publish_app_event(context.redis, app_id, "job")
    except Exception as exc:
        log.warning("app %s: job event not published: %s", app_id, exc)


# -- the kinds -------------------------------------------------------------------------


def dispatch(context: Context, kind: str, app_id: int | None, arguments: dict[str, Any]) -> Any:
    handlers = {
        "create_app": apply_app,
        "apply_services": apply_app,
        "program_action": program_action,
        "delete_app": delete_app,
    }
    if kind not in handlers:
        raise JobFailed(f"unknown job kind {kind!r}")
    if app_id is None:
        raise JobFailed(f"a {kind} job needs an app (its app was deleted?)")
    return handlers[kind](context, app_id, arguments)


@dataclass
class AppInfo:
    """What a job needs of the app's rows, loaded in one session."""

    id: int
    name: str
    queue: str
    user: str  # its system user's name (when the workers run as root): the container's key
    layout: AppLayout
    base_text: str  # these two only when asked for (``render``): what apply_app writes
    rendered: list[Any]
    port: int  # where its app listens, inside its network namespace


def _load_app(context: Context, app_id: int, *, render: bool = True) -> AppInfo:
    with session_scope(context.reads) as session:
        app = session.get(App, app_id, options=[selectinload(App.services), selectinload(App.host)])
        if app is None:
            raise JobFailed(f"app {app_id} does not exist")
        if app.host.queue != context.host.queue:
            raise JobFailed(
                f"app {app.name} lives on host {app.host.name} (queue {app.host.queue}),"
                f" not on this worker's queue {context.host.queue}"
            )
        layout = AppLayout.of(app.host.apps_root, app.name)
        root = runtime_root(context.host, layout)
        prefix = context.host.user_prefix or user_prefix(instance_id(session))
        return AppInfo(
            id=app.id,
            name=app.name,
            queue=app.host.queue,
            user=app_user_name(app.id, prefix),
            layout=layout,
            base_text=render_app_base(root) if render else "",
            rendered=render_enabled_services(app, root=root) if render else [],
            port=_app_port(app),
        )


def _app_port(app: App) -> int:
    for service in app.services:
        if service.kind == "app":
            return int(get_kind("app").effective(service.settings, app.tech)["port"])
    return 8080


def _tenant(
    context: Context,
    info: AppInfo,
    owner: Owner | None = None,
    *,
    revive: bool = False,
    up_seconds: float = RUNTIME_UP_SECONDS,
) -> Runtime:
    """The app's runtime, once it answers (RuntimeUnavailable, a transient error, if not).
    One the host runtime shows down fails the job at once, naming the cause (RuntimeDown);
    ``revive`` starts a FATAL one again first (a user's start or restart)."""
    owner = owner or find_owner(info.user)
    if owner is None:
        raise RuntimeUnavailable(f"app {info.name} has no system user yet")
    runtime = connect(context.host, info.name, info.layout, owner, info.user)
    try:
        wait_tenant_up(context.host, info.name, runtime, up_seconds, revive=revive)
    except BaseException:
        runtime.close()
        raise
    return runtime


def apply_app(context: Context, app_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
    """create_app and apply_services: make the app's root, files and runtime what the
    database says, then wait until every enabled program runs and removed ones are gone."""
    info = _load_app(context, app_id)
    # Its home is where its runtime sees its root: /srv in a container (no host path in
    # the /etc/passwd that every container shows).
    owner = app_owner(info.user, runtime_root(context.host, info.layout))
    directories = tuple(d for service in info.rendered for d in service.directories)
    prepare_root(info.layout, owner, directories)
    spec = None
    if context.host.containers:
        spec = container_spec(context.host, info.name, info.layout, owner, info.user)
        tcp = context.host.front_tcp.get(info.name)
        listen = [f"tcp:{tcp}"] if tcp else []
        write_front_route(context.host, info.name, spec, info.port, listen)
    check = config_check(context.host, spec, info.layout, owner)
    try:
        changes = write_app_config(info.layout, owner, info.base_text, info.rendered, check)
    except SandboxFailed as exc:
        raise RuntimeUnavailable(str(exc)) from exc  # the sandbox, not the config: retry
    registration = register_app(context.host, info.name, info.layout, owner, spec)
    with _tenant(context, info, owner) as runtime:
        update = runtime.update(stop_timeout=context.host.wait_timeout)
        wanted = [
            f"{service.program_name}:{process}"
            for service in info.rendered
            for process in service.process_names
        ]
        runtime.wait_for(gone_groups=update.removed, timeout=context.host.wait_timeout)
        if wanted:
            runtime.start(wanted, timeout=context.host.wait_timeout)
        states = runtime.states()
    return {
        "app": info.name,
        "files": {"written": changes.written, "removed": changes.removed},
        "runtime": registration,
        "update": update.as_dict(),
        "processes": {name: states[name]["pid"] for name in wanted},
    }


def program_action(context: Context, app_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
    info = _load_app(context, app_id, render=False)  # a click waits for it: only the app
    action, program = arguments["action"], arguments.get("program", "all")
    names = None if program == "all" else [program]
    with _tenant(context, info, revive=action in ("start", "restart")) as runtime:
        if action == "start":
            done = runtime.start(names, timeout=context.host.wait_timeout)
        elif action == "stop":
            done = runtime.stop(names, timeout=context.host.wait_timeout)
        elif action == "restart":
            done = runtime.restart(names, timeout=context.host.wait_timeout)
        else:
            raise JobFailed(f"unknown action {action!r}")
        states = runtime.states()
    return {
        "action": action,
        "program": program,
        "processes": {
            name: {"state": states[name]["statename"], "pid": states[name]["pid"]}
            for name in done
            if name in states
        },
    }


def delete_app(context: Context, app_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
    """Stop everything, unregister the app's runtime and its container, move its root aside
    (kept, but out of every later app's reach), lock its user, and delete its row."""
    with session_scope(context.sessions) as session:
        exists = session.get(App, app_id) is not None
    if not exists:
        return {"deleted": False}
    info = _load_app(context, app_id, render=False)
    stopped: list[str] = []
    if is_registered(context.host, info.name):
        # A courtesy, so programs stop in order; whatever the runtime answers (it may be
        # hostile), the host runtime stops it next and the kernel ends what is left.
        with contextlib.suppress(Exception), _tenant(context, info) as runtime:
            stopped = runtime.stop(None, timeout=context.host.wait_timeout)
    unregistered = unregister_app(context.host, info.name, info.user)
    kept = retire_root(info.layout, app_id)
    retire_user(info.user)
    with session_scope(context.sessions) as session:
        app = session.get(App, app_id)
        if app is not None:
            session.delete(app)
    context.redis.delete(status_key(app_id))
    return {
        "app": info.name,
        "deleted": True,
        "stopped": stopped,
        "runtime": unregistered,
        "kept": kept,
    }
