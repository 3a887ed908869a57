"""At-least-once jobs: the database is the truth, Redis only carries jobs to the workers.

Real parts throughout: a redis-server killed with SIGKILL and started again (with its
append-only file, or with its data removed, so that only the reconciler can bring the jobs
back), RQ workers and the reconciler under the host runtime, tenant runtimes running a slow
program. The reconciler's pass is also driven directly, with an injected clock.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hosting import services
from hosting.job_records import start_job
from hosting.models import App, utcnow
from hosting.queue import enqueue_job, job_queue, redis_holds
from redis import Redis

from tests.workers.fixtures import REDIS_SERVER, Platform, wait_until
from workers.host import HostConfig
from workers.liveness import is_gone, process_token
from workers.reconciler import reconcile_once

pytestmark = pytest.mark.timeout(180)
# A program that ignores SIGTERM: stopping it takes stopwaitsecs, which makes a slow job.
STUBBORN = "/bin/sh -c 'trap \"\" TERM && exec sleep 1000'"


class RedisProcess:
    """A redis-server on a unix socket that can be killed and started again in place,
    keeping its data in an append-only file (fsync on every write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", "0", "--unixsocket", str(self.socket)]
        command += ["--unixsocketperm", "700", "--dir", str(self.directory), "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always"]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = Redis.from_url(self.url)

        def pong() -> bool:
            try:
                return bool(client.ping())
            except Exception:
                return False

        wait_until(pong, 10, "redis-server to answer")
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def remove_data(self) -> None:
        shutil.rmtree(self.directory / "appendonlydir")
        (self.directory / "dump.rdb").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_process(base_dir: Path) -> Iterator[RedisProcess]:
    directory = base_dir / "redis"
    directory.mkdir()
    server = RedisProcess(directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_process: RedisProcess) -> str:
    """The platform fixture's Redis is this restartable one."""
    return redis_process.url


def slow_app(platform: Platform) -> int:
    """An app with a program whose restart takes 6 s (it ignores SIGTERM): a wide window in
    which one job runs and another waits in Redis, even on a loaded machine."""
    app_id, _port = platform.create_app()
    with platform.sessions() as session:
        app = session.get(App, app_id)
        settings = {"command": STUBBORN, "stopwaitsecs": 6}
        services.add_service(session, app, "custom", "stubborn", settings)
        session.commit()
    platform.run("create_app", app_id)
    return app_id


def reconciler_log(platform: Platform) -> str:
    path = Path(platform.hosts["h1"].root) / "log" / "reconciler.log"
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.parametrize("data", ["kept", "lost"])
def test_redis_killed_mid_job_every_job_ends(
    platform: Platform, redis_process: RedisProcess, data: str
) -> None:
    # One worker: while it runs the first job, the other two wait in Redis for sure (with
    # two, the second worker's claim and the reconciler move them in and out of Redis).
    platform.add_host("h1", workers=1)
    app_id = slow_app(platform)
    # Three restarts of one app: one runs, two wait in Redis.
    jobs = [
        platform.enqueue("program_action", app_id, action="restart", program="stubborn")
        for _ in range(3)
    ]
    wait_until(lambda: platform.job(jobs[0]).status == "running", 15, "the first job to run")
    queue = job_queue(platform.hosts["h1"].queue, platform.redis)
    wait_until(lambda: set(jobs[1:]) <= set(queue.get_job_ids()), 5, "two jobs in Redis's queue")

    redis_process.kill()
    if data == "lost":
        redis_process.remove_data()
        assert not (redis_process.directory / "appendonlydir").exists()
    redis_process.start()

    finished = [platform.wait_job(job_id, 120) for job_id in jobs]
    assert all(job.status in ("done", "failed") for job in finished)
    assert [job.status for job in finished] == ["done"] * 3, [job.error for job in finished]
    if data == "lost":
        # The jobs that lived only in Redis came back from the database.
        log = reconciler_log(platform)
        for job_id in jobs[1:]:
            assert f"job {job_id} (program_action): not in Redis, pushed again" in log, log


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: apps' own system users")
def test_a_job_that_keeps_failing_ends_failed_with_its_error(platform: Platform) -> None:
    """An app never created has no system user: each attempt fails at once (a transient
    error), is scheduled again from the database (1, 5, 15 s), and after the last one the
    job ends failed with the error, never queued for good."""
    platform.add_host("h1", workers=1)
    app_id, _port = platform.create_app()
    started = time.monotonic()
    job = platform.wait_job(platform.enqueue("program_action", app_id, action="restart"), 90)
    took = time.monotonic() - started
    assert job.status == "failed" and job.attempts == 4, (job.status, job.attempts, job.error)
    assert job.error.endswith("has no system user yet (gave up after 4 attempts)"), job.error
    assert 21 <= took < 60, took  # 1 + 5 + 15 s of backoff, and a reconciler pass or so


def test_a_reconcile_pass_pushes_lost_jobs_and_retries_lost_attempts(
    platform: Platform,
) -> None:
    """Driven directly (no host runtime, no worker): what one pass does, with a clock."""
    platform.add_host("h1", workers=0)
    host: HostConfig = platform.hosts["h1"]
    app_id, _port = platform.create_app()
    queued = platform.enqueue("apply_services", app_id)
    assert redis_holds(platform.redis, host.queue, queued)
    done = reconcile_once(host, platform.sessions, platform.redis)
    assert done.pushed == [] and done.lost == []  # Redis has it: nothing to do

    platform.redis.flushall()  # Redis lost everything
    assert not redis_holds(platform.redis, host.queue, queued)
    done = reconcile_once(host, platform.sessions, platform.redis)
    assert done.pushed == [queued]
    assert redis_holds(platform.redis, host.queue, queued)
    assert reconcile_once(host, platform.sessions, platform.redis).pushed == []

    # A running attempt whose process is gone: queued again for its next attempt.
    dead = subprocess.Popen(["/bin/true"])
    dead_token = process_token(dead.pid)
    dead.wait()
    assert is_gone(dead_token) and not is_gone(process_token())
    # Three apps: a job runs only while no other job of its app does.
    running = platform.enqueue("apply_services", app_id)
    alive = platform.enqueue("apply_services", platform.create_app(name="web2")[0])
    elsewhere = platform.enqueue("apply_services", platform.create_app(name="web3")[0])
    with platform.sessions() as session:
        start_job(session, running, runner=dead_token, lease_seconds=600)
        start_job(session, alive, runner=process_token(), lease_seconds=600)
        start_job(session, elsewhere, runner="another-machine:42:4242", lease_seconds=600)
        session.commit()
    now = utcnow()
    done = reconcile_once(host, platform.sessions, platform.redis, now)
    assert done.lost == [running]
    lost = platform.job(running)
    assert (lost.status, lost.attempts) == ("queued", 1)
    assert "the worker running it was lost (gone)" in lost.error
    # Due one second later (the policy's first interval), and then pushed again.
    platform.redis.flushall()
    assert running not in reconcile_once(host, platform.sessions, platform.redis, now).pushed
    later = now + timedelta(seconds=1)
    assert running in reconcile_once(host, platform.sessions, platform.redis, later).pushed
    # A live runner of this machine is left alone, even past its lease (RQ's timeout ends
    # it, and then it is gone); one of another machine, until its lease is over.
    assert platform.job(elsewhere).status == "running"
    much_later = now + timedelta(seconds=601)
    done = reconcile_once(host, platform.sessions, platform.redis, much_later)
    assert done.lost == [elsewhere]
    assert "lost (lease over)" in platform.job(elsewhere).error
    assert platform.job(alive).status == "running"


def test_a_job_enqueued_while_redis_is_down_waits_in_the_database(platform: Platform) -> None:
    platform.add_host("h1", workers=0)
    app_id, _port = platform.create_app()
    down = Redis.from_url(f"unix://{platform.base}/no-redis-here.sock")
    with platform.sessions() as session:
        app = session.get(App, app_id)
        job = enqueue_job(session, down, kind="apply_services", host=app.host, app=app)
        job_id = job.id
    queued = platform.job(job_id)
    assert queued.status == "queued"
    assert queued.error.startswith("waiting for the job queue (Redis) to answer: ")
    done = reconcile_once(platform.hosts["h1"], platform.sessions, platform.redis)
    assert done.pushed == [job_id]
