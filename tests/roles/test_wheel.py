"""The wheel the roles install, installed into a fresh virtualenv as a host gets it: the
runtime's commands work without any extra, ``hostingctl`` says in one line which extra it
needs, and with the extra the panel serves its pages and static files under gunicorn and
Alembic migrates a database with the packaged ``alembic.ini``. Everything runs outside the
checkout (cwd a temp dir), so nothing is imported from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.roles.playbook import free_port

PIP_TIMEOUT = 600


def _run(argv: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=PIP_TIMEOUT, **kwargs
    )  # type: ignore[call-overload]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def venv(project_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("wheel-venv")
    done = _run([sys.executable, "-m", "venv", str(home / "venv")], home)
    assert done.returncode == 0, done.stderr
    yield home / "venv"


def test_without_the_platform_extra(venv: Path, project_wheel: Path) -> None:
    cwd = venv.parent
    done = _run([str(venv / "bin/pip"), "install", "--quiet", str(project_wheel)], cwd)
    assert done.returncode == 0, done.stderr
    version = _run([str(venv / "bin/supervisord"), "--version"], cwd)
    assert version.returncode == 0 and version.stdout.strip(), version.stderr

    done = _run([str(venv / "bin/hostingctl"), "--help"], cwd)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "the 'platform' extra is not installed" in lines[0]
    assert "pip install 'hosting-platform[platform]'" in lines[0]


def test_with_the_platform_extra_panel_and_migrations(venv: Path, project_wheel: Path) -> None:
    cwd = venv.parent
    done = _run([str(venv / "bin/pip"), "install", "--quiet", f"{project_wheel}[platform]"], cwd)
    assert done.returncode == 0, done.stderr
    assert _run([str(venv / "bin/hostingctl"), "--help"], cwd).returncode == 0

    data = cwd / "data"
    data.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOSTING_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'hosting.db'}",
        "REDIS_URL": f"unix://{data / 'redis.sock'}",  # not running: /login needs no Redis
    }
    site = _run(
        [
            str(venv / "bin/python"),
            "-c",
            # prometheus_client: the extra brings what /metrics needs (docs/METRICS.md).
            "import hosting, os, prometheus_client; print(os.path.dirname(hosting.__file__))",
        ],
        cwd,
    ).stdout.strip()
    assert site.startswith(str(venv)), site  # the installed copy, not the checkout
    migrated = _run(
        [str(venv / "bin/alembic"), "-c", f"{site}/alembic.ini", "upgrade", "head"], cwd, env=env
    )
    assert migrated.returncode == 0, migrated.stderr
    head = _run([str(venv / "bin/alembic"), "-c", f"{site}/alembic.ini", "current"], cwd, env=env)
    assert "(head)" in head.stdout, head.stdout + head.stderr

    port = free_port()
    server = subprocess.Popen(
        [str(venv / "bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "admin_web:create_app()"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"{base}/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.1)
        assert status == 200
        status, body = _get(f"{base}/login")
        assert status == 200 and b'name="password"' in body, body[:500]
        for name in ("panel.css", "panel.js", "favicon.svg"):
            status, body = _get(f"{base}/static/{name}")
            assert status == 200 and body, name
    finally:
        server.terminate()
        server.wait(timeout=30)
