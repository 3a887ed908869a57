"""Enqueueing work for a host's workers: the contract between the panel/CLI and ``workers``.

``enqueue_job`` records the Job row (the audit record, status ``queued``), commits it, then
puts an RQ job on the host's queue (``push_job``) that names the worker function by its
dotted path: this package never imports ``workers``. The RQ job's only argument is the Job's
id, and the RQ job has the same id, so the Job row and the RQ job can always be matched.

The Job row, not Redis, is the truth (``hosting.job_recovery``): RQ only carries a job to a
worker. There is no RQ ``Retry``: a failed attempt is scheduled again in the row, and the
host's reconciler pushes every queued job that is due and that Redis does not hold
(``redis_holds``), e.g. after Redis lost its data. Pushes are unique (one RQ job per id),
so the panel and a reconciler pushing the same job at once leave one copy.

Job kinds and their ``arguments``:

- ``create_app``: make the app's root and base config, register its runtime with the host's
  runtime, then apply its services; no arguments.
- ``apply_services``: render and write the service files, reread/update the app's runtime,
  wait until every enabled program runs and every removed one is gone; no arguments.
- ``program_action``: ``{"action": "start" | "stop" | "restart", "program": name | "all"}``.
- ``delete_app``: stop everything and unregister the app's runtime; its logs are kept.

Reading a log is no job (it changes nothing, and leaves no audit record): see
``hosting.log_reads``.

Jobs are serialized as JSON (``job_queue``), never pickle, so reading a job runs nothing;
and the workers run only ``WORKER_FUNCTION`` and ``hosting.log_reads.LOG_FUNCTION``
(workers.worker: a job naming anything else, or carrying callbacks, is refused). What keeps
foreign writes out of the queue in the first place is Redis's password and its unix socket's
directory. Redis: pass a ``redis.Redis``
made with ``decode_responses=False``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from hosting.errors import InvalidInput
from hosting.job_records import record_job
from hosting.models import App, Host, Job, User

log = logging.getLogger(__name__)

JOB_KINDS = ("create_app", "apply_services", "program_action", "delete_app")
PROGRAM_ACTIONS = ("start", "stop", "restart")

WORKER_FUNCTION = "workers.job_handlers.run_job"
DEFAULT_JOB_TIMEOUT = 300  # seconds; the host's workers' stopwaitsecs are above this
RESULT_TTL = 24 * 3600  # RQ's copy; the Job row is the record that lasts
FAILURE_TTL = 7 * 24 * 3600


def job_queue(name: str, redis: Any) -> Any:
    """The RQ queue ``name``, with jobs in JSON: the workers, the panel and the CLI all reach
    queues through here, so they all agree on the serializer."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=redis, serializer=JSONSerializer)


def check_arguments(kind: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
    """The arguments normalized for ``kind``; InvalidInput naming the field otherwise."""
    if kind not in JOB_KINDS:
        raise InvalidInput("kind", f"{kind!r} is not a job kind; known: {', '.join(JOB_KINDS)}")
    arguments = dict(arguments or {})
    if kind == "program_action":
        action = arguments.get("action")
        if action not in PROGRAM_ACTIONS:
            raise InvalidInput("action", f"must be one of {', '.join(PROGRAM_ACTIONS)}")
        program = arguments.get("program", "all")
        if not isinstance(program, str) or not program:
            raise InvalidInput("program", "must be a program name or 'all'")
        return {"action": action, "program": program}
    if arguments:
        raise InvalidInput("arguments", f"{kind} takes no arguments")
    return arguments


WAITING_FOR_REDIS = "waiting for the job queue (Redis) to answer: "


def enqueue_job(
    session: Session,
    redis: Any,
    *,
    kind: str,
    host: Host,
    app: App | None = None,
    user: User | None = None,
    actor: str | None = None,
    arguments: dict[str, Any] | None = None,
    job_timeout: int = DEFAULT_JOB_TIMEOUT,
    title: str | None = None,
) -> Job:
    """Record a queued Job, commit, and push it on ``host``'s queue; returns the Job.

    The commit comes first so that a worker never picks up a job whose row it cannot see.
    If Redis cannot take it (down, restarting), the job stays queued with the reason: the
    host's reconciler pushes it once Redis answers again.
    """
    arguments = check_arguments(kind, arguments)
    if app is not None and app.host_id != host.id:
        raise InvalidInput("host", f"app {app.name} lives on another host")
    job = record_job(session, kind, arguments, app=app, user=user, actor=actor, title=title)
    session.commit()
    try:
        push_job(redis, host.queue, job.id, describe(kind, app.name if app else None), job_timeout)
    except Exception as exc:  # the redis client's errors, whatever they are
        log.warning("job %s: not pushed on %s yet: %s", job.id, host.queue, exc)
        job.error = f"{WAITING_FOR_REDIS}{exc}"
        session.commit()
    return job


def waits_for_redis(job: Job) -> str | None:
    """Why ``job`` was not pushed when it was enqueued (Redis did not answer), or None."""
    if job.status == "queued" and job.error and job.error.startswith(WAITING_FOR_REDIS):
        return job.error.removeprefix(WAITING_FOR_REDIS)
    return None


def describe(kind: str, app: str | None) -> str:
    """The RQ job's description (what `rq info` shows)."""
    return f"{kind} app={app}" if app is not None else kind


def push_job(redis: Any, queue_name: str, job_id: str, description: str, job_timeout: int) -> bool:
    """Put Job ``job_id`` on ``queue_name`` unless Redis already holds it (waiting or
    running): True when pushed. An RQ job of an earlier attempt that has ended is
    replaced."""
    from rq.exceptions import DuplicateJobError

    queue = job_queue(queue_name, redis)
    for _ in range(2):
        try:
            queue.enqueue(
                WORKER_FUNCTION,
                job_id,
                job_id=job_id,
                job_timeout=job_timeout,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                description=description,
                unique=True,
            )
            return True
        except DuplicateJobError:
            existing = queue.fetch_job(job_id)
            if existing is not None and _is_live(queue, existing):
                return False
            if existing is not None:
                existing.delete()  # an earlier attempt's, finished or failed
    return False  # pushed by someone else between our delete and our push


def redis_holds(redis: Any, queue_name: str, job_id: str) -> bool:
    """Whether Redis has Job ``job_id`` waiting on ``queue_name`` or in a worker's hands."""
    queue = job_queue(queue_name, redis)
    existing = queue.fetch_job(job_id)
    return existing is not None and _is_live(queue, existing)


def _is_live(queue: Any, rq_job: Any) -> bool:
    from rq.job import JobStatus

    status = rq_job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # Its id must really be in the queue's list (a restored Redis may disagree).
        return queue.get_job_position(rq_job.id) is not None
    return status in (JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
