"""One source of settings: ``hostingctl`` typed with no environment at all reaches the
platform that scripts/run started (its ``.run/platform.env``, beside the virtualenv), and
with no settings anywhere it says so at once instead of guessing a Redis.

The checkout is stood in for by a directory holding a link to this checkout's ``.venv``:
Python takes its prefix from the path it was started by, so ``<dir>/.venv/bin/python``
runs this project with ``<dir>/.run`` as scripts/run's data dir."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import wait_until
from tests.platform.test_local_platform import REPO, free_port

PLATFORM_ENV = ("HOSTING_", "DATABASE_URL", "REDIS_URL", "PANEL_", "DEMO_", "VIRTUAL_ENV")


@pytest.fixture
def checkout() -> Iterator[Path]:
    """A stand-in checkout: ``.venv`` (a link to ours), and ``.run`` once started."""
    # Not under tmp_path (0700): the apps' own users must be able to reach their roots.
    base = Path(tempfile.mkdtemp(prefix="checkout-", dir="/tmp"))
    base.chmod(0o755)
    (base / ".venv").symlink_to(REPO / ".venv")
    yield base
    shutil.rmtree(base, ignore_errors=True)  # unlinks .venv, never follows it


def hostingctl(checkout: Path, *args: str) -> tuple[int, str, float]:
    """``hostingctl`` as an operator typing it with nothing in the environment, from /."""
    started = time.monotonic()
    done = subprocess.run(
        [str(checkout / ".venv/bin/python"), "-m", "workers.cli", "--timeout", "60", *args],
        env={},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def test_no_settings_anywhere_is_a_clear_error_at_once(checkout: Path) -> None:
    if Path("/etc/hosting/platform.env").exists():
        pytest.skip("this machine has a platform's settings in /etc/hosting")
    code, out, seconds = hostingctl(checkout, "restart", "demo", "app")
    assert code == 2, out
    assert out == (
        "hostingctl: no platform settings: DATABASE_URL and REDIS_URL not set (looked for "
        f"{checkout}/.run/platform.env, /etc/hosting/platform.env); set HOSTING_SETTINGS "
        "to the platform's settings file, or the variables\n"
    )
    assert seconds < 10


@pytest.mark.timeout(480)
@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="needs redis-server")
def test_hostingctl_with_no_environment_finds_the_local_platform(
    checkout: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PLATFORM_ENV)}
    app_port = free_port()
    env.update(
        PANEL_ADDRESS=f"127.0.0.1:{free_port()}",
        DEMO_APP_PORT=str(app_port),
        DEMO_MEMCACHED_PORT=str(free_port()),
    )
    out = tmp_path / "out.txt"
    launcher = subprocess.Popen(
        [str(checkout / ".venv/bin/python"), "-m", "local_platform"],
        cwd="/",
        env=env,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )
    data = checkout / ".run"
    try:
        wait_until(lambda: "Ctrl-C" in out.read_text(), 150, "the launcher's summary")
        settings = data / "platform.env"
        assert stat.S_IMODE(settings.stat().st_mode) == 0o600
        password = (data / "redis-password").read_text().strip()
        assert f"REDIS_URL=unix://:{password}@{data}/redis.sock\n" in settings.read_text()

        code, text, _ = hostingctl(checkout, "jobs")
        assert code == 0, text
        assert "Create app" in text and "Apply the app's settings" in text and "scripts/run" in text

        code, text, _ = hostingctl(checkout, "restart", "demo", "app")
        assert code == 0, text
        assert ": done" in text and '"state": "RUNNING"' in text, text
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=150)
    assert "nothing is left running" in out.read_text()

    # Stopped: the settings still name its Redis, which no longer answers: said at once.
    code, text, seconds = hostingctl(checkout, "restart", "demo", "app")
    assert code == 1, text
    assert text.startswith("hostingctl: the platform's Redis does not answer:"), text
    assert seconds < 10
