"""A platform stopped mid-job (`scripts/run stop`) and started again: every job ends done
or failed, none stays queued. Redis's data is removed while it is stopped, so that the
jobs come back from the database (the reconciler), not from Redis's append-only file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hosting import db, services
from hosting.models import App, Job
from hosting.queue import enqueue_job
from hosting.settings import REDIS_SOCKET
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from tests.harness import wait_until
from tests.platform.test_local_platform import (
    REPO,
    free_port,
    processes_mentioning,
    remove_demo_tenants,
)

# Ignores SIGTERM: each restart takes its stopwaitsecs, so a job is surely mid-way at stop.
STUBBORN = "/bin/sh -c 'trap \"\" TERM && exec sleep 1000'"


class Launcher:
    """`python -m local_platform` in a data directory of its own."""

    def __init__(self, data: Path, out: Path) -> None:
        self.data, self.out = data, out
        self.env = {
            **os.environ,
            "HOSTING_DATA_DIR": str(data),
            "PANEL_ADDRESS": f"127.0.0.1:{free_port()}",
            "DEMO_APP_PORT": str(free_port()),
            "DEMO_MEMCACHED_PORT": str(free_port()),
        }
        self.env.pop("DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.out.write_text("")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_platform"],
            cwd=REPO,
            env=self.env,
            stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: "Ctrl-C" in self.out.read_text(), 150, "the launcher's summary")

    def stop(self) -> None:
        """`scripts/run stop`, from another process."""
        done = subprocess.run(
            [sys.executable, "-m", "local_platform", "stop"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert self.process is not None
        self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=150)

    def redis(self) -> Redis:
        password = (self.data / "redis-password").read_text().strip()
        return Redis.from_url(f"unix://:{password}@{self.data / REDIS_SOCKET}")


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    # Not under tmp_path (0700): the apps' own users must be able to reach their roots.
    data = Path(tempfile.mkdtemp(prefix="platform-", dir="/tmp")) / "run"
    data.parent.chmod(0o755)
    launcher = Launcher(data, tmp_path / "out.txt")
    try:
        yield launcher
    finally:
        launcher.kill()
        if (data / "hosting.db").exists():
            remove_demo_tenants(data)
        shutil.rmtree(data.parent, ignore_errors=True)


def statuses(sessions: sessionmaker[Session], job_ids: list[str]) -> list[str]:
    with sessions() as session:
        return [session.get(Job, job_id).status for job_id in job_ids]


@pytest.mark.timeout(600)
@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="needs redis-server")
def test_a_platform_stopped_mid_job_finishes_every_job(launcher: Launcher) -> None:
    launcher.start()
    engine = db.make_engine(f"sqlite:///{launcher.data / 'hosting.db'}")
    sessions = db.make_session_factory(engine)
    redis = launcher.redis()

    def enqueue(kind: str, **arguments: str) -> str:
        with sessions() as session:
            app = session.query(App).filter_by(name="demo").one()
            job = enqueue_job(
                session, redis, kind=kind, host=app.host, app=app, actor="test", arguments=arguments
            )
            return job.id

    def finished(job_id: str) -> Job | None:
        with sessions() as session:
            job = session.get(Job, job_id)
            return job if job.finished else None

    try:
        with sessions() as session:
            app = session.query(App).filter_by(name="demo").one()
            settings = {"command": STUBBORN, "stopwaitsecs": 4}
            services.add_service(session, app, "custom", "stubborn", settings)
            session.commit()
        apply = enqueue("apply_services")
        job = wait_until(lambda: finished(apply), 60, "stubborn to start")
        assert job.status == "done", job.error

        jobs = [enqueue("program_action", action="restart", program="stubborn") for _ in range(3)]
        wait_until(lambda: statuses(sessions, jobs)[0] == "running", 30, "the first restart")
        launcher.stop()
        assert processes_mentioning(str(launcher.data)) == []
        left = statuses(sessions, jobs)
        assert "queued" in left, left  # work was left when the platform stopped

        # Whatever Redis kept is gone: only the database knows what is left to do.
        shutil.rmtree(launcher.data / "appendonlydir", ignore_errors=True)
        (launcher.data / "dump.rdb").unlink(missing_ok=True)
        launcher.start()
        redis.close()
        redis = launcher.redis()
        ended = [wait_until(lambda j=job_id: finished(j), 120, f"job {job_id}") for job_id in jobs]
        assert [job.status for job in ended] == ["done"] * 3, [job.error for job in ended]
        log = (launcher.data / "host" / "log" / "reconciler.log").read_text()
        assert "not in Redis, pushed again" in log, log
    finally:
        redis.close()
        engine.dispose()
    launcher.stop()
    assert processes_mentioning(str(launcher.data)) == []
