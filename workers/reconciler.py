"""The job reconciler of a host: ``python -m workers.reconciler --host-root DIR``.

Run by the host runtime (``reconcile-<queue>``) beside the workers, at start and then every
``INTERVAL`` seconds. The database is the truth about jobs; Redis only carries them to the
workers and may lose them (restarted without its data, a platform stopped mid-job). Each
pass (``reconcile_once``) makes Redis follow the database for this host's jobs:

1. a running job whose runner is gone (a process of this machine that exited; a runner of
   another machine, whose lease ran out) is a lost attempt: queued again for its next
   attempt, or failed after the last (``hosting.job_recovery.attempt_failed``, the one
   retry policy);
2. a queued job that is due and that Redis does not hold (not waiting on the queue, not in
   a worker's hands) is pushed again, after a claim in its row, so that two reconcilers
   never push it twice (``take_due``). A live worker is never given a second copy of a job
   it runs: pushes are unique per job id, and a worker runs an attempt only after claiming
   it in the row (``job_records.start_job``).

Everything a pass does is a compare-and-set on a row, so a pass killed half-way, or two at
once, leave nothing wrong.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hosting.db import session_scope
from hosting.job_recovery import RunningJob, attempt_failed, due_jobs, running_jobs, take_due
from hosting.models import utcnow
from hosting.queue import describe, push_job, redis_holds

from workers.host import HostConfig
from workers.liveness import is_gone, runs_here
from workers.metrics import round_done
from workers.rounds import run_rounds, start_helper

log = logging.getLogger("workers.reconciler")
INTERVAL = 1.0  # seconds between passes: a retry is pushed at most this late


@dataclass
class Pass:
    """What one pass did: job ids."""

    lost: list[str] = field(default_factory=list)  # running attempts found lost
    pushed: list[str] = field(default_factory=list)  # queued jobs pushed on the queue again


def reconcile_once(
    host: HostConfig, sessions: Any, redis: Any, now: datetime | None = None
) -> Pass:
    """One pass over this host's unfinished jobs (see the module doc)."""
    now = now or utcnow()
    done = Pass()
    with session_scope(sessions) as session:
        running = running_jobs(session, host.queue, now)
    for job in running:
        why = _lost(job)
        if why is None:
            continue
        reason = f"the worker running it was lost ({why})"
        with session_scope(sessions) as session:
            if attempt_failed(session, job.id, reason, runner=job.runner, now=now) is not None:
                done.lost.append(job.id)
                log.warning("job %s: %s", job.id, reason)
    with session_scope(sessions) as session:
        due = due_jobs(session, host.queue, now)
    for item in due:
        if redis_holds(redis, host.queue, item.id):
            continue
        with session_scope(sessions) as session:
            if not take_due(session, item.id, item.next_attempt_at, now):
                continue  # another reconciler has it, or it changed meanwhile
        if push_job(redis, host.queue, item.id, describe(item.kind, item.app), host.job_timeout):
            done.pushed.append(item.id)
            log.warning("job %s (%s): not in Redis, pushed again", item.id, item.kind)
    return done


def _lost(job: RunningJob) -> str | None:
    """Why ``job``'s attempt is lost, or None while its runner may still be at work. A
    runner of this machine is judged by its process alone: one past its lease that still
    runs is killed by RQ's job timeout, and is gone then."""
    if job.runner is None:
        return "no runner recorded"
    if is_gone(job.runner):
        return "gone"
    if job.lease_expired and not runs_here(job.runner):
        return "lease over"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    helper = start_helper(argv, "python -m workers.reconciler", __doc__)

    def round_() -> None:
        done = reconcile_once(helper.host, helper.sessions, helper.redis)
        round_done(
            helper.redis,
            helper.host.queue,
            "reconciler",
            hosting_reconciler_repushed_total=len(done.pushed),
            hosting_reconciler_lost_attempts_total=len(done.lost),
        )

    return run_rounds(
        round_,
        INTERVAL,
        once=helper.once,
        log=log,
    )


if __name__ == "__main__":
    sys.exit(main())
