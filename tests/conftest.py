"""Shared fixtures: `impl` runs a test against stock supervisord 4.3.0 and against ours.

SUPERVISOR_IMPL=stock (or ours, or stock,ours) limits which run; `-k stock` works too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import IMPLS, Daemon


def selected_impls() -> list[str]:
    wanted = os.environ.get("SUPERVISOR_IMPL", "").strip()
    if not wanted:
        return list(IMPLS)
    chosen = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(IMPLS))
    if unknown:
        raise pytest.UsageError(f"SUPERVISOR_IMPL names unknown impl(s) {unknown}; use {IMPLS}")
    return chosen


@pytest.fixture(params=selected_impls())
def impl(request: pytest.FixtureRequest) -> str:
    """Which supervisord the test runs: "stock" or "ours"."""
    return request.param


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short private directory (unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_daemon(impl: str, workdir: Path) -> Iterator[Callable[..., Daemon]]:
    """Factory: start_daemon(conf_text, **Daemon kwargs) -> a started Daemon on `impl`.
    Every daemon (and everything it spawned) is stopped and killed at teardown."""
    started: list[Daemon] = []

    def start(conf: str | None, **kwargs: Any) -> Daemon:
        kwargs.setdefault("workdir", workdir)
        daemon = Daemon(impl, conf=conf, **kwargs)
        started.append(daemon)
        return daemon

    yield start
    errors = []
    for daemon in reversed(started):
        try:
            daemon.cleanup()
        except Exception as exc:  # keep cleaning the others
            errors.append(exc)
    if errors:
        raise errors[0]


# The roles' tests each run ansible-playbook for minutes (one takes about 6); started last,
# one of them would keep one core busy while the other idles at the end of the run. They go
# first, so the short tests fill the gaps around them (longest first). Every xdist worker
# collects in this same order.
LONG_FIRST = ("tests/roles/test_rollout.py", "tests/roles/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def long_first(item: pytest.Item) -> int:
        starts = [i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)]
        return starts[0] if starts else len(LONG_FIRST)

    items.sort(key=long_first)  # stable: the order within each part is kept


# The tenant-attack suite's counts (tests/attacks): every worker appends its tests' counts to
# one file; the controller, which alone prints the summary, makes it and reads it. Here, in
# the root conftest, because under xdist the controller loads no other.
ATTACK_LEDGER_ENV = "HOSTING_ATTACK_LEDGER"


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background job with SIGINT ignored, and every child inherits that:
    # then a `supervisorctl tail -f` that a test ends with Ctrl-C (SIGINT) never ends. A
    # handler of our own is reset to the default in each child at exec (xdist's workers too).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not hasattr(config, "workerinput"):
        handle, path = tempfile.mkstemp(prefix="hosting-attacks-", suffix=".jsonl")
        os.close(handle)
        os.environ[ATTACK_LEDGER_ENV] = path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if hasattr(terminalreporter.config, "workerinput"):  # xdist workers end first: not theirs
        return
    path = os.environ.get(ATTACK_LEDGER_ENV)
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    os.unlink(path)
    if rows:
        attempts = sum(row[1] for row in rows)
        crossings = sum(row[2] for row in rows)
        terminalreporter.write_line(
            f"tenant attacks: {attempts} attempts in {len(rows)} tests, {crossings} crossings"
        )
