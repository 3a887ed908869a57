"""Fixtures for the roles tests: the project wheel (once per session) and prefix installs
that are always stopped, and checked to leave no process behind."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.roles.playbook import (
    ANSIBLE_PLAYBOOK,
    Install,
    build_wheel,
    build_wheelhouse,
    free_port,
    offline_pip_env,
    tear_down,
)


def shared_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's builds go. Under xdist, the base temp dir's parent is the
    session's and shared by all its workers: one build for all of them. Without xdist that
    parent is shared by every session of the user (of this tree or another): builds go in
    the session's own base temp dir, so that one made earlier from other code is never
    installed."""
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip(f"ansible-core is not installed ({ANSIBLE_PLAYBOOK}); pip install .[test]")
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "roles-wheel"


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(shared_build_dir(tmp_path_factory))


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/wheelhouse's output for this interpreter (it needs a package index)."""
    return build_wheelhouse(shared_build_dir(tmp_path_factory))


@pytest.fixture
def install(project_wheel: Path) -> Iterator[Install]:
    """A fresh, empty prefix (short path: unix socket paths stay under 108 bytes)."""
    workdir = Path(tempfile.mkdtemp(prefix="roles-", dir="/tmp"))
    (workdir / "prefix").mkdir()
    inst = Install(workdir, project_wheel, web_port=free_port())
    try:
        yield inst
    finally:
        left = tear_down([inst], workdir)
        assert not left, f"processes left running after the init script's stop: {sorted(left)}"


@pytest.fixture
def no_index() -> Iterator[dict[str, str]]:
    """An environment in which pip has no index: its PIP_INDEX_URL's port is bound, so no one
    else takes it, but not listening, so a connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield offline_pip_env(f"http://127.0.0.1:{sock.getsockname()[1]}/simple/")
