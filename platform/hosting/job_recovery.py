"""Jobs that did not finish: the retry schedule, and finding the ones Redis or a worker lost.

The Job row is the truth about a job (status, attempts, the next attempt's due time, the
last error); Redis is only the way to a worker, and may lose what it holds (a restart
without its data, a platform stopped mid-job). So:

- a transient failure of an attempt (``attempt_failed``) puts the job back to ``queued``
  with ``next_attempt_at`` after the policy's delay, or ends it ``failed`` with its error
  after the last attempt: it is never queued for good;
- the host's reconciler (``workers.reconciler``) enqueues every queued job that is due
  (``due_jobs``) and that Redis does not hold, after claiming it (``take_due``) so that two
  reconcilers never push it twice; and hands every running job whose runner is gone
  (``running_jobs``) to ``attempt_failed``, as a lost attempt.

Nothing here reads a clock of its own: ``now`` is passed in (tests inject one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from hosting.job_records import MAX_ERROR_CHARS, finish_job
from hosting.models import App, Host, Job

# Seconds before each retry: attempt 1 fails -> 1 s -> attempt 2 -> 5 s -> ... 4 attempts.
RETRY_INTERVALS = (1.0, 5.0, 15.0)
# A reconciler that pushed a job leaves it to Redis this long before it looks again.
RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry schedule of jobs: ``intervals[n - 1]`` seconds after attempt ``n``
    failed comes attempt ``n + 1``; after ``len(intervals) + 1`` attempts the job fails."""

    intervals: tuple[float, ...] = RETRY_INTERVALS

    @property
    def max_attempts(self) -> int:
        return len(self.intervals) + 1

    def next_attempt_at(self, failed_attempt: int, now: datetime) -> datetime | None:
        """When the attempt after ``failed_attempt`` (1 = the first) is due; None when
        that was the last."""
        if failed_attempt < 1:
            raise ValueError(f"attempts count from 1, not {failed_attempt}")
        if failed_attempt > len(self.intervals):
            return None
        return now + timedelta(seconds=self.intervals[failed_attempt - 1])


POLICY = RetryPolicy()


def attempt_failed(
    session: Session,
    job_id: str,
    error: str,
    *,
    runner: str | None,
    now: datetime,
    policy: RetryPolicy = POLICY,
) -> Job | None:
    """The running attempt of ``runner`` failed with a transient ``error`` (or was lost):
    queued again with the reason and the next attempt's due time, or failed with
    ``error`` after the last attempt. None when the job is no longer that runner's (it
    finished, or someone else already handled it): the row is locked for the check."""
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != "running" or job.runner != runner:
        return None
    due = policy.next_attempt_at(max(job.attempts, 1), now)
    if due is None:
        finish_job(session, job_id, error=f"{error} (gave up after {job.attempts} attempts)")
        return job
    delay = (due - now).total_seconds()
    job.status = "queued"
    job.next_attempt_at = due
    job.runner = None
    job.lease_expires_at = None
    job.error = f"attempt {job.attempts} failed, will retry in {delay:g}s: {error}"
    job.error = job.error[:MAX_ERROR_CHARS]
    session.flush()
    return job


@dataclass(frozen=True)
class DueJob:
    """A queued job that is due, as a reconciler saw it."""

    id: str
    kind: str
    app: str | None
    next_attempt_at: datetime | None  # as read: the claim's compare value


@dataclass(frozen=True)
class RunningJob:
    id: str
    runner: str | None
    lease_expired: bool


def _of_queue(queue: str) -> ColumnElement[bool]:
    """The jobs of ``queue``'s host: those of its apps, and those whose app is gone (any
    host's reconciler may settle those; the claims keep it to one)."""
    apps = select(App.id).join(Host, Host.id == App.host_id).where(Host.queue == queue)
    return or_(Job.app_id.in_(apps), Job.app_id.is_(None))


def due_jobs(session: Session, queue: str, now: datetime) -> list[DueJob]:
    """Queued jobs of ``queue`` that may be (re)enqueued now, oldest first (the order they
    were asked for)."""
    rows = session.execute(
        select(Job.id, Job.kind, App.name, Job.next_attempt_at)
        .outerjoin(App, App.id == Job.app_id)
        .where(Job.status == "queued", _of_queue(queue))
        .where(or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now))
        .order_by(Job.created_at)
    ).all()
    return [DueJob(*row) for row in rows]


def take_due(session: Session, job_id: str, seen: datetime | None, now: datetime) -> bool:
    """Claim the (re)enqueueing of a due job: True for one reconciler only, the one that
    still finds it queued with the due time it saw; the next look comes after
    RECHECK_SECONDS."""
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != "queued" or job.next_attempt_at != seen:
        return False
    job.next_attempt_at = now + timedelta(seconds=RECHECK_SECONDS)
    session.flush()
    return True


def running_jobs(session: Session, queue: str, now: datetime) -> list[RunningJob]:
    """Running jobs of ``queue``, each with its runner and whether its lease is over."""
    rows = session.execute(
        select(Job.id, Job.runner, Job.lease_expires_at < now)
        .where(Job.status == "running", _of_queue(queue))
        .order_by(Job.created_at)
    ).all()
    return [RunningJob(job_id, runner, bool(expired)) for job_id, runner, expired in rows]
