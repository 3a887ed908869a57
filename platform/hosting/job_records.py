"""Job rows: the work queued for a host's workers, and the audit trail of who did what.

``record_job`` is called on the enqueue side (panel, CLI) before the RQ job is enqueued with
the same id; ``start_job`` (a claim: one worker per attempt)/``finish_job`` by the worker
(a failed attempt's retry: ``hosting.job_recovery``); ``wait_for_job`` by whoever waits
for one (hostingctl, the one-machine launcher). Arguments are ids and plain values, never ORM
objects, so they are stored as JSON as they are.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hosting.errors import InvalidInput, NotFound
from hosting.models import App, Job, Membership, User, new_job_id, utcnow

JOB_KIND_RE = re.compile(r"[a-z0-9_.:-]{1,64}")
MAX_LOG_TAIL_CHARS = 64 * 1024
MAX_ERROR_CHARS = 16 * 1024
MAX_TITLE_CHARS = 200


def _json_value(field: str, value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field, f"must be JSON data (ids and plain values): {exc}") from None
    return value


def record_job(
    session: Session,
    kind: str,
    arguments: dict[str, Any] | None = None,
    *,
    app: App | None = None,
    user: User | None = None,
    actor: str | None = None,
    job_id: str | None = None,
    title: str | None = None,
) -> Job:
    """A queued job (and its audit record). ``actor`` says who asked when there is no user
    (e.g. ``cli:root``); it defaults to the user's e-mail. ``title`` says what it does for
    people ("Enable Redis"; see ``hosting.commands``)."""
    if not isinstance(kind, str) or not JOB_KIND_RE.fullmatch(kind):
        raise InvalidInput("kind", f"{kind!r} is not a job kind (a-z, 0-9, '_.:-')")
    arguments = _json_value("arguments", dict(arguments or {}))
    if actor is None and user is not None:
        actor = f"user:{user.email}"
    job = Job(
        id=job_id or new_job_id(),
        kind=kind,
        title=title[:MAX_TITLE_CHARS] if title else None,
        arguments=arguments,
        app=app,
        user=user,
        actor=actor,
        status="queued",
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


class AppBusy(Exception):
    """Another job of the same app is running: this one must wait its turn."""


def start_job(
    session: Session,
    job_id: str,
    *,
    runner: str | None = None,
    lease_seconds: float | None = None,
) -> Job | None:
    """Claim a queued job for one attempt: running, the attempt counted, ``runner`` (the
    process running it) and its lease recorded. None when it is not queued (finished, or
    another worker's): only one worker ever runs an attempt, whatever Redis handed out
    twice. AppBusy while another job of its app runs: the workers' app lock lives in
    Redis, and this holds even when Redis lost it. The rows are locked for the checks
    (SQLite: the write transaction already is)."""
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job.status != "queued":
        return None
    if job.app_id is not None:
        session.get(App, job.app_id, with_for_update=True)  # one claim per app at a time
        other = session.scalar(
            select(Job.id).where(
                Job.app_id == job.app_id, Job.status == "running", Job.id != job_id
            )
        )
        if other is not None:
            raise AppBusy(f"job {other} is running on this app")
    now = utcnow()
    job.status = "running"
    job.started_at = now
    job.finished_at = None
    job.attempts += 1
    job.runner = runner
    job.lease_expires_at = now + timedelta(seconds=lease_seconds) if lease_seconds else None
    session.flush()
    return job


def finish_job(
    session: Session,
    job_id: str,
    *,
    result: Any = None,
    error: str | None = None,
    log_tail: str | None = None,
) -> Job:
    """Record the outcome: done with ``result``, or failed when ``error`` is given."""
    job = get_job(session, job_id)
    job.status = "failed" if error is not None else "done"
    job.result = _json_value("result", result)
    job.error = error[-MAX_ERROR_CHARS:] if error is not None else None
    job.log_tail = log_tail[-MAX_LOG_TAIL_CHARS:] if log_tail is not None else None
    job.finished_at = utcnow()
    session.flush()
    return job


def jobs_visible_to(
    session: Session, user: User, *, app: App | None = None, limit: int = 50
) -> list[Job]:
    """Newest first: all jobs for an admin; for others, the jobs of their tenants' apps."""
    statement = select(Job)
    if app is not None:
        statement = statement.where(Job.app_id == app.id)
    if not user.is_admin:
        statement = (
            statement.join(App, App.id == Job.app_id)
            .join(Membership, Membership.tenant_id == App.tenant_id)
            .where(Membership.user_id == user.id)
        )
    return list(session.scalars(statement.order_by(Job.created_at.desc()).limit(limit)))


def _progress(job: Job) -> tuple[str, int, str | None]:
    """What a watcher sees change: status, attempt, and the reason of a coming retry."""
    return (job.status, job.attempts, job.error if job.status == "queued" else None)


def wait_for_job(
    sessions: Callable[[], Session],
    job_id: str,
    *,
    timeout: float,
    on_change: Callable[[Job], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    poll_seconds: float = 0.2,
) -> Job:
    """Poll Job ``job_id`` (a fresh session each time: the worker commits in another process)
    until it is finished, ``timeout`` seconds pass or ``cancelled()`` says so; returns the
    Job as last read (``finished`` tells which). ``on_change`` sees it whenever its progress
    (status, attempt, retry reason) differs from the last seen, starting from a freshly
    queued job."""
    deadline = time.monotonic() + timeout
    seen: tuple[str, int, str | None] = ("queued", 0, None)
    while True:
        with sessions() as session:
            job = get_job(session, job_id)
        if _progress(job) != seen:
            seen = _progress(job)
            if on_change is not None:
                on_change(job)
        if job.finished or cancelled() or time.monotonic() > deadline:
            return job
        time.sleep(poll_seconds)
