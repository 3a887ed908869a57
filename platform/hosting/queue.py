"""Enqueueing work for a host's workers: the contract between the panel/CLI and ``workers``.

``enqueue_job`` records the Job row (the audit record, status ``queued``), commits it, then
puts an RQ job on the host's queue that names the worker function by its dotted path: this
package never imports ``workers``. The RQ job's only argument is the Job's id, and the RQ job
has the same id, so the Job row and the RQ job can always be matched.

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

from typing import Any

from sqlalchemy.orm import Session

from hosting.errors import InvalidInput
from hosting.job_records import record_job
from hosting.models import App, Host, Job, User

JOB_KINDS = ("create_app", "apply_services", "program_action", "delete_app")
PROGRAM_ACTIONS = ("start", "stop", "restart")

WORKER_FUNCTION = "workers.job_handlers.run_job"
DEFAULT_JOB_TIMEOUT = 300  # seconds; the host's workers' stopwaitsecs are above this
RETRY_MAX = 3
RETRY_INTERVALS = (1, 5, 15)  # seconds between attempts after a transient error
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
    """Record a queued Job, commit, and enqueue it on ``host``'s queue; returns the Job.

    The commit comes first so that a worker never picks up a job whose row it cannot see.
    If enqueueing fails (Redis down), the row is marked failed and the error re-raised.
    """
    from rq import Retry  # here: the models must import without rq installed

    arguments = check_arguments(kind, arguments)
    if app is not None and app.host_id != host.id:
        raise InvalidInput("host", f"app {app.name} lives on another host")
    job = record_job(session, kind, arguments, app=app, user=user, actor=actor, title=title)
    session.commit()
    queue = job_queue(host.queue, redis)
    description = f"{kind} app={app.name}" if app is not None else kind
    try:
        queue.enqueue(
            WORKER_FUNCTION,
            job.id,
            job_id=job.id,
            job_timeout=job_timeout,
            retry=Retry(max=RETRY_MAX, interval=list(RETRY_INTERVALS)),
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=description,
        )
    except Exception as exc:
        from hosting.job_records import finish_job

        finish_job(session, job.id, error=f"could not enqueue on {host.queue}: {exc}")
        session.commit()
        raise
    return job
