"""Fixtures for supervisorctl tests: daemons (stock now, ours later) in the standard setup.

`impl` here overrides the root one: module-scoped (so a module can share one read-only
daemon) and with our daemon marked xfail until it serves XML-RPC (see `daemon_params`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import selected_impls
from tests.ctl.ctlrun import READY_STATES, ctl_config, wait_ready
from tests.harness import Daemon

_unserved: set[str] = set()  # impls whose daemon never served in this worker: fail fast


def daemon_params() -> list[object]:
    return list(selected_impls())


def await_ready(impl: str, daemon: Daemon, **kwargs: Any) -> Daemon:
    """Wait for `daemon`'s programs to settle; if `impl` already failed to serve once in
    this worker, fail at once instead of waiting out the deadline again."""
    if impl in _unserved:
        pytest.fail(f"{impl} supervisord did not serve XML-RPC earlier in this run")
    try:
        wait_ready(daemon, **kwargs)
    except AssertionError:
        if impl == "ours":
            _unserved.add(impl)
        raise
    return daemon


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=daemon_params())
def impl(request: pytest.FixtureRequest) -> str:
    """"stock" or "ours": which supervisord the supervisorctl under test talks to."""
    return request.param


def _tempdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="svc-", dir="/tmp"))


def discard(daemon: Daemon) -> None:
    """Kill a daemon and its children outright: a graceful stop costs stock supervisord a
    second per group, and these tests never look at shutdown (test_shutdown does itself)."""
    daemon.kill_all()
    daemon.cleanup()


@pytest.fixture(scope="module")
def shared_daemon(impl: str) -> Iterator[Daemon]:
    """One daemon per module and worker, for commands that change nothing."""
    workdir = _tempdir()
    daemon = None
    try:
        daemon = Daemon(impl, workdir=workdir, conf=ctl_config(workdir))
        yield await_ready(impl, daemon)
    finally:
        if daemon is not None:
            discard(daemon)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def daemon_pair(impl: str) -> Iterator[Callable[..., tuple[Daemon, Daemon]]]:
    """Factory: two identical fresh daemons, one for each supervisorctl, so commands that
    change state can be compared: `make(conf_factory, states)`."""
    made: list[tuple[Daemon, Path]] = []

    def make(
        conf_factory: Callable[[Path], str] = ctl_config,
        states: Mapping[str, str] = READY_STATES,
    ) -> tuple[Daemon, Daemon]:
        pair = []
        for _ in range(2):
            workdir = _tempdir()
            daemon = Daemon(impl, workdir=workdir, conf=conf_factory(workdir))
            made.append((daemon, workdir))
            pair.append(daemon)
        for daemon in pair:
            await_ready(impl, daemon, states=states)
        return pair[0], pair[1]

    yield make
    for daemon, workdir in made:
        discard(daemon)
        shutil.rmtree(workdir, ignore_errors=True)
