"""hostingctl against a real host runtime: the same jobs as the panel, with progress."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.workers.fixtures import DEBIAN_PYTHON, Platform, free_port

pytestmark = pytest.mark.timeout(120)


def hostingctl(platform: Platform, *args: str, stdin: str | None = None) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": platform.database_url, "REDIS_URL": platform.redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "--timeout", "60", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    return done.returncode, done.stdout + done.stderr


def test_operator_cli(platform: Platform) -> None:
    platform.add_host("h1")
    assert hostingctl(platform, "create-tenant", "Acme Corp")[0] == 0
    code, out = hostingctl(
        platform,
        "create-user",
        "ops@acme.example",
        "--tenant",
        "acme-corp",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert code == 0, out
    port = free_port()
    command = f"{DEBIAN_PYTHON} -m http.server --bind 127.0.0.1 {port}"
    code, out = hostingctl(
        platform, "create-app", "acme-corp", "h1", "shop", "--tech", "custom", "--command", command
    )
    assert code == 0, out
    assert ": queued" in out and ": running (attempt 1)" in out and ": done" in out

    code, out = hostingctl(platform, "restart", "h1/shop", "app")
    assert code == 0 and '"state": "RUNNING"' in out, out

    code, out = hostingctl(platform, "restart", "shop", "nosuch")
    assert code == 1 and "error: no such program: nosuch" in out, out

    code, out = hostingctl(platform, "logs", "shop", "--bytes", "500")
    assert code == 0, out  # read by the host's worker; no job (the list below has none)
    code, out = hostingctl(platform, "logs", "shop", "nosuch")
    assert code == 1 and "error: no such program: nosuch" in out, out

    code, out = hostingctl(platform, "--no-wait", "stop", "shop")
    assert code == 0 and out.count("\n") == 1, out

    code, out = hostingctl(platform, "jobs", "--app", "shop")
    assert code == 0
    lines = [line for line in out.splitlines() if not line.startswith("    ")]
    assert len(lines) == 4 and all("cli:" in line for line in lines), out
    assert "Restart app" in out and "Stop all programs" in out and "Create app" in out
    assert "error: no such program: nosuch" in out

    code, out = hostingctl(platform, "create-app", "acme-corp", "h1", "Bad Name", "--tech", "node")
    assert code == 2 and "name:" in out, out
