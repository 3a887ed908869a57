"""The workers run jobs in their own process (no work horse forked per job): what a horse
gave must still hold. A job past its timeout is stopped and retried while the worker goes
on; a job that ignores its timeout ends the worker, and neither it nor the jobs behind it
are lost. Real parts: redis-server, worker processes (alone, and under a host runtime with
its tenant runtimes)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hosting.models import App
from hosting.queue import enqueue_job, job_queue
from redis import Redis
from rq.job import JobStatus

from tests.stock import REPO_ROOT
from tests.workers.fixtures import Platform, wait_until
from tests.workers.test_job_handlers import _slow_app, pids
from workers.host import host_runtime, render_host_config

pytestmark = pytest.mark.timeout(300)

QUEUE = "host.solo"
JOBS = "tests.workers.worker_jobs"
# A worker that also runs the test's job functions, and ends a stuck job 1 s past its
# timeout (60 s on a host).
WORKER = f"""
import sys
import workers.worker as worker
worker.ALLOWED_FUNCTIONS += ("{JOBS}.stuck", "{JOBS}.mark")
worker.KILL_GRACE = 1
sys.exit(worker.main(sys.argv[1:]))
"""


def start_worker(host_root: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    # Its log goes to a file: a pipe would stay open in RQ's scheduler, its child.
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, "--host-root", host_root, "--name", "solo.w1", *extra],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def test_a_job_that_ignores_its_timeout_ends_the_worker_and_loses_nothing(
    base_dir: Path, redis_url: str
) -> None:
    host = render_host_config(
        str(base_dir / "host"), QUEUE, redis_url=redis_url, database_url="sqlite://"
    )
    redis = Redis.from_url(redis_url)
    queue = job_queue(QUEUE, redis)
    stuck = queue.enqueue(f"{JOBS}.stuck", 600, job_id="stuck", job_timeout=1)
    queue.enqueue(f"{JOBS}.mark", "ran-after", job_id="after")

    log = base_dir / "worker.log"
    worker = start_worker(host.root, log)
    try:
        returncode = worker.wait(120)  # the stuck job would sleep 600 s
    finally:
        worker.kill()
    stderr = log.read_text()
    assert returncode == -signal.SIGKILL, stderr
    assert "past its 1s timeout: ending the worker" in stderr
    assert redis.get("ran-after") is None
    assert queue.job_ids == ["after"], "the job behind it is still queued"

    # The host runtime would start it again: the stuck job is failed, the next one runs.
    again = start_worker(host.root, log, "--burst")
    try:
        assert again.wait(120) == 0, log.read_text()
    finally:
        again.kill()
    assert int(redis.get("ran-after")) == again.pid
    assert stuck.get_status(refresh=True) == JobStatus.FAILED
    redis.close()


def test_a_job_without_a_timeout_is_left_to_run(base_dir: Path, redis_url: str) -> None:
    # RQ's -1: no timeout, so no last resort either (the grace here is 1 s).
    host = render_host_config(
        str(base_dir / "host"), QUEUE, redis_url=redis_url, database_url="sqlite://"
    )
    redis = Redis.from_url(redis_url)
    queue = job_queue(QUEUE, redis)
    slow = queue.enqueue(f"{JOBS}.stuck", 3, job_id="slow", job_timeout=-1)
    queue.enqueue(f"{JOBS}.mark", "ran-after", job_id="after")
    log = base_dir / "worker.log"
    worker = start_worker(host.root, log, "--burst")
    try:
        assert worker.wait(120) == 0, log.read_text()
    finally:
        worker.kill()
    assert slow.get_status(refresh=True) == JobStatus.FINISHED
    assert int(redis.get("ran-after")) == worker.pid
    redis.close()


def test_a_timed_out_attempt_is_retried_and_the_worker_goes_on(platform: Platform) -> None:
    platform.add_host("h1", workers=1)
    app_id = _slow_app(platform)  # stopping its program takes 3 s: past the timeout below
    config = platform.hosts["h1"]
    with host_runtime(config) as runtime:
        worker = next(p["pid"] for p in runtime.processes() if p["group"].startswith("worker"))
    before = pids(platform, app_id)["stubborn:stubborn"]

    with platform.sessions() as session:
        app = session.get(App, app_id)
        job_id = enqueue_job(
            session,
            platform.redis,
            kind="program_action",
            host=app.host,
            app=app,
            actor="test",
            arguments={"action": "restart", "program": "stubborn"},
            job_timeout=1,
        ).id
    wait_until(
        lambda: "JobTimeoutException" in (platform.job(job_id).error or ""),
        20,
        "the first attempt to fail at its timeout",
        step=0.02,
    )
    job = platform.wait_job(job_id, 60)  # the retry (pushed again with the host's timeout)
    assert job.status == "done", job.error
    assert job.attempts == 2
    assert pids(platform, app_id)["stubborn:stubborn"] not in (0, before)

    # The same process ran both attempts, and runs the next job (the app's lock was let go).
    nxt = platform.run("program_action", app_id, action="restart", program="app")
    assert nxt.attempts == 1
    with host_runtime(config) as runtime:
        workers = [p["pid"] for p in runtime.processes() if p["group"].startswith("worker")]
    assert workers == [worker]
