"""Fixtures for the roles tests: the project wheel (once per session) and prefix installs
that are always stopped, and checked to leave no process behind."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.roles.playbook import (
    ANSIBLE_PLAYBOOK,
    Install,
    build_wheel,
    free_port,
    kill_leftovers,
    remove_tree,
    wait_until_gone,
)


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip(f"ansible-core is not installed ({ANSIBLE_PLAYBOOK}); pip install .[test]")
    # The base temp dir's parent is shared by all xdist workers: one build for all of them.
    shared = tmp_path_factory.getbasetemp().parent / "roles-wheel"
    return build_wheel(shared)


@pytest.fixture
def install(project_wheel: Path) -> Iterator[Install]:
    """A fresh, empty prefix (short path: unix socket paths stay under 108 bytes)."""
    workdir = Path(tempfile.mkdtemp(prefix="roles-", dir="/tmp"))
    (workdir / "prefix").mkdir()
    inst = Install(workdir, project_wheel, web_port=free_port())
    try:
        yield inst
    finally:
        pids = inst.pids()
        inst.stop()
        left = wait_until_gone(pids, timeout=30)
        kill_leftovers(left)
        remove_tree(workdir)
        assert not left, f"processes left running after the init script's stop: {sorted(left)}"
