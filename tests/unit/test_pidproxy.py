"""pidproxy with real processes: a fake daemon records the signals it receives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FAKE_DAEMON = r"""
import os, signal, sys
pidfile, record = sys.argv[1], sys.argv[2]
def note(sig, frame):
    with open(record, "a") as f:
        f.write(signal.Signals(sig).name + "\n")
    if sig == signal.SIGTERM:
        os._exit(0)
for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT,
          signal.SIGQUIT):
    signal.signal(s, note)
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(pidfile + ".tmp", pidfile)
if len(sys.argv) > 3:
    sys.exit(int(sys.argv[3]))
while True:
    signal.pause()
"""

PIDPROXY = [sys.executable, "-m", "supervisor_runtime.cli.pidproxy"]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.script = tmp_path / "daemon.py"
        self.script.write_text(FAKE_DAEMON)
        self.pidfile = tmp_path / "daemon.pid"
        self.record = tmp_path / "signals"
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*PIDPROXY, str(self.pidfile), sys.executable, str(self.script), str(self.pidfile),
             str(self.record), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def daemon_pid(self) -> int:
        wait_for(self.pidfile.exists)
        return int(self.pidfile.read_text())

    def signals(self) -> list[str]:
        return self.record.read_text().split() if self.record.exists() else []


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    # The daemon first: it holds the proxy's stdout/stderr pipes open.
    if s.pidfile.exists():
        try:
            os.kill(int(s.pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    for proc in s.procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_usage_without_arguments() -> None:
    result = subprocess.run([*PIDPROXY], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "Usage: " in result.stdout
    assert "<pidfile name> <command> [<cmdarg1> ...]" in result.stdout
    only_pidfile = subprocess.run([*PIDPROXY, "x.pid"], capture_output=True, text=True, timeout=30)
    assert only_pidfile.returncode == 1 and "Usage: " in only_pidfile.stdout


def test_forwards_signals_and_exits_after_term(setup: Setup) -> None:
    proxy = setup.start()
    setup.daemon_pid()
    for sig, name in ((signal.SIGHUP, "SIGHUP"), (signal.SIGUSR1, "SIGUSR1"),
                      (signal.SIGUSR2, "SIGUSR2")):
        proxy.send_signal(sig)
        wait_for(lambda name=name: name in setup.signals())
        assert proxy.poll() is None
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait(timeout=10) == 0
    wait_for(lambda: "SIGTERM" in setup.signals())
    assert setup.signals() == ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTERM"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_are_forwarded_then_proxy_exits(setup: Setup, sig: signal.Signals) -> None:
    proxy = setup.start()
    setup.daemon_pid()
    proxy.send_signal(sig)
    assert proxy.wait(timeout=10) == 0
    wait_for(lambda: sig.name in setup.signals())


def test_exits_promptly_when_command_exits(setup: Setup) -> None:
    proxy = setup.start("3")
    started = time.monotonic()
    # Stock exits 0 whatever the command's status; so do we.
    assert proxy.wait(timeout=10) == 0
    # Stock polls every 5 s; we notice the exit at once.
    assert time.monotonic() - started < 4


def test_unreadable_pidfile_is_reported_and_proxy_keeps_running(
    setup: Setup, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pid"
    proxy = subprocess.Popen(
        [*PIDPROXY, str(missing), sys.executable, str(setup.script), str(setup.pidfile),
         str(setup.record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    setup.procs.append(proxy)
    setup.daemon_pid()
    proxy.send_signal(signal.SIGTERM)
    assert proxy.stdout is not None
    # The complaint is printed (and flushed) from the handler, after which the proxy must
    # still be waiting for its command.
    assert proxy.stdout.readline() == f"Can't read child pidfile {missing}!\n"
    assert proxy.poll() is None
    os.kill(setup.daemon_pid(), signal.SIGTERM)
    assert proxy.wait(timeout=10) == 0


def test_missing_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PIDPROXY, str(tmp_path / "p.pid"), str(tmp_path / "no-such-command")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 127
    assert "no-such-command" in result.stderr
