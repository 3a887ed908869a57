"""The offline wheelhouse (scripts/wheelhouse) on a host with no package index: pip installs
the project with its platform extra from it alone, at the pinned versions, and so do the
roles (supervisor_runtime_wheelhouse). No index is reachable: this machine's pip config and
PIP_* variables are left out, PIP_NO_INDEX is set and PIP_INDEX_URL is a port that refuses
connections. The roles' install from it is test_playbook's site test, which installs from the
wheelhouse with no index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.roles.playbook import check_pinned

pytestmark = pytest.mark.timeout(900)
REQUIREMENT = "hosting-platform[platform]"


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
