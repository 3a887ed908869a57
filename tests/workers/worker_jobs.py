"""Job functions for tests/workers/test_worker_process.py, run by a real worker process
(which allows them on top of the platform's own functions)."""

from __future__ import annotations

import os
import signal
import time

from rq import get_current_job


def stuck(seconds: float) -> None:
    """A job that ignores its timeout: RQ's alarm is what stops a job past its timeout, and
    this one turns it off (as code stuck in C would not see it)."""
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(seconds)


def mark(key: str) -> None:
    """Record which process ran this job."""
    job = get_current_job()
    assert job is not None
    job.connection.set(key, os.getpid())
