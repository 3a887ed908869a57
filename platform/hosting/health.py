"""Is the platform ready to serve: what the panel's ``/readyz`` reports and a rollout's
health gate waits on.

Ready means every part a request or a job needs answers: the database (reachable, and
migrated to the revision this release expects: a release rolled out without its migration
is not ready), Redis, and at least one live RQ worker on every host's queue (RQ drops a
worker's registration when its heartbeat stops, so listed workers are live ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hosting.models import Host


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # part -> "ok" or why not

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


def _database(session: Session) -> tuple[str, list[Host] | None]:
    from hosting.db import head_revision

    try:
        session.execute(text("SELECT 1"))
        current = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        hosts = list(session.scalars(select(Host)))
    except Exception as exc:  # any driver error: the answer is "not ready, because"
        session.rollback()
        return _failure(exc), None
    expected = head_revision()
    if current != expected:
        return f"at revision {current}, this release needs {expected}: migrate first", hosts
    return "ok", hosts


def _redis(redis: Any) -> str:
    try:
        redis.ping()
    except Exception as exc:
        return _failure(exc)
    return "ok"


def live_workers(redis: Any, queue: Any) -> list[Any]:
    """The RQ workers registered on ``queue`` (an RQ Queue): live ones, since RQ drops a
    worker's registration when its heartbeat stops."""
    from rq import Worker

    return Worker.all(connection=redis, queue=queue)


def _workers(redis: Any, hosts: list[Host]) -> str:
    from hosting.queue import job_queue

    if not hosts:
        return "no host is registered"
    idle = [h for h in hosts if not live_workers(redis, job_queue(h.queue, redis))]
    if idle:
        return f"no live worker on the queue of {len(idle)} of {len(hosts)} hosts"
    return "ok"


def _failure(exc: Exception) -> str:
    return f"not answering: {type(exc).__name__}: {exc}".splitlines()[0][:300]


def readiness(session: Session, redis: Any) -> Readiness:
    result = Readiness()
    result.checks["database"], hosts = _database(session)
    result.checks["redis"] = _redis(redis)
    if hosts is None:
        result.checks["workers"] = "unknown: the database does not answer"
    elif result.checks["redis"] != "ok":
        result.checks["workers"] = "unknown: Redis does not answer"
    else:
        result.checks["workers"] = _workers(redis, hosts)
    return result
