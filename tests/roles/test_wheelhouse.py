"""The offline wheelhouse (scripts/wheelhouse) on a host with no package index: pip installs
the project with its platform extra from it alone, at the pinned versions, and so do the
roles (supervisor_runtime_wheelhouse). No index is reachable: this machine's pip config and
PIP_* variables are left out, PIP_NO_INDEX is set and PIP_INDEX_URL is a port that refuses
connections."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.roles.playbook import Install, offline_pip_env
from tests.roles.test_playbook import http_status, installed_versions, running, wait_ready

pytestmark = pytest.mark.timeout(900)
REQUIREMENT = "hosting-platform[platform]"


@pytest.fixture
def no_index() -> Iterator[dict[str, str]]:
    """An environment in which pip has no index: its PIP_INDEX_URL's port is bound, so no one
    else takes it, but not listening, so a connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield offline_pip_env(f"http://127.0.0.1:{sock.getsockname()[1]}/simple/")


def pins(constraints: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (names lower case, - for _ and .)."""
    found = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            found[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
    return found


def check_pinned(venv: Path, constraints: Path) -> None:
    """Every package in the virtualenv but pip's own and the project (installed by path,
    pip freeze names it by its wheel's URL) is at its pin."""
    installed = {
        name.replace("_", "-").replace(".", "-"): version
        for name, version in installed_versions(venv).items()
    }
    for tool in ("pip", "setuptools", "wheel", "hosting-platform"):
        installed.pop(tool, None)
    pinned = pins(constraints)
    assert {"sqlalchemy", "rq", "redis", "gunicorn", "flask", "alembic"} <= installed.keys()
    assert {name: pinned.get(name) for name in installed} == installed


def pip_install(venv: Path, find_links: Path, env: dict[str, str], cwd: Path) -> str:
    """pip's output (stdout and stderr) for the install a host makes; raises on failure."""
    done = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--no-index", "--find-links",
         str(find_links), "-c", str(find_links / "constraints.txt"), REQUIREMENT],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done.stdout + done.stderr


def test_wheelhouse_installs_the_platform_with_no_index(
    wheelhouse: Path, no_index: dict[str, str], tmp_path: Path
) -> None:
    names = sorted(path.name for path in wheelhouse.iterdir())
    assert "constraints.txt" in names
    assert [name for name in names if name.startswith("hosting_platform-")] != []
    assert all(name.endswith(".whl") for name in names if name != "constraints.txt"), names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)

    # The same install from an empty directory fails: nothing but --find-links can supply a
    # package in this environment (no index, no find-links from this machine's pip config).
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "constraints.txt").write_bytes((wheelhouse / "constraints.txt").read_bytes())
    with pytest.raises(subprocess.CalledProcessError) as refused:
        pip_install(venv, empty, no_index, tmp_path)
    assert "No matching distribution found for hosting-platform" in refused.value.stderr

    pip_install(venv, wheelhouse, no_index, tmp_path)
    check_pinned(venv, wheelhouse / "constraints.txt")

    # The panel, the workers and hostingctl import from the installed copy (cwd is not the
    # checkout, so nothing comes from the source tree).
    code = (
        "import admin_web, hosting, workers.hostingctl, sys;"
        "from admin_web import create_app;"
        "print(admin_web.__file__)"
    )
    imported = subprocess.run(
        [str(venv / "bin/python"), "-c", code],
        cwd=tmp_path, env=no_index, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(venv)), imported.stdout
    helped = subprocess.run(
        [str(venv / "bin/hostingctl"), "--help"],
        cwd=tmp_path, env=no_index, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: hostingctl"), helped.stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_roles_install_from_the_wheelhouse_with_no_index(
    install: Install, wheelhouse: Path, no_index: dict[str, str]
) -> None:
    install.more_vars["supervisor_runtime_wheelhouse"] = str(wheelhouse)
    install.env = no_index
    first, recap = install.playbook()
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap.failed == 0 and recap.unreachable == 0

    # The wheelhouse is on the host, and the project's wheel installed is its own (not
    # supervisor_runtime_source's, which the play was also given and must not use).
    shipped = install.prefix / "opt/hosting/wheelhouse"
    assert {p.name: sha256(p) for p in shipped.iterdir()} == {
        p.name: sha256(p) for p in wheelhouse.iterdir()
    }
    ours = next(wheelhouse.glob("hosting_platform-*.whl"))
    assert sha256(install.prefix / "opt/hosting/dist" / ours.name) == sha256(ours)
    assert sha256(ours) != sha256(install.wheel)
    check_pinned(install.prefix / "opt/hosting/venv", wheelhouse / "constraints.txt")

    # The platform it installed runs.
    states = running(install.ctl(install.host_conf, "status").stdout)
    assert states.get("hosting-web") == "RUNNING", states
    assert http_status(install.web_port, "/healthz") == 200
    assert wait_ready(install.web_port) == 200

    # A second run ships and installs nothing.
    second, recap2 = install.playbook()
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert recap2.changed == 0 and recap2.failed == 0, second.stdout[-6000:]
