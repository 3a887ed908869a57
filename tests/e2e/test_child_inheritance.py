"""What a child inherits from the daemon: only its three standard streams, default signals.

A descriptor the daemon itself was started with (a shell redirection, a socket passed
by a service manager) must not reach the children, whichever way the daemon starts them:
a plain program (ours: posix_spawn) or one with a directory of its own (ours: Popen).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.harness import StartDaemon, build_config, ours_only, program

# The daemon starts with descriptor 7 open and inheritable, as a careless parent leaves it.
LEAKY_PARENT = ["sh", "-c", 'exec 7</dev/null; exec "$@"', "sh"]


def _status_mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


KINDS = pytest.mark.parametrize("options", [{}, {"directory": "/"}], ids=["plain", "in-dir"])


def _start_app(start_daemon: StartDaemon, workdir: Path, options: dict[str, object]) -> int:
    progs = {"app": program("/bin/sleep 1000", startsecs=0, **options)}
    d = start_daemon(build_config(workdir, progs), wrapper=LEAKY_PARENT)
    pid = d.spawned_pid("app")
    d.wait_log(r"success: app entered RUNNING state")
    assert 7 in {int(fd) for fd in os.listdir(f"/proc/{d.daemon_pid()}/fd")}  # the setup
    return pid


@KINDS
def test_child_gets_only_its_streams(
    start_daemon: StartDaemon, workdir: Path, options: dict[str, object]
) -> None:
    pid = _start_app(start_daemon, workdir, options)
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]


@KINDS
def test_child_gets_default_signal_dispositions(
    start_daemon: StartDaemon, workdir: Path, impl: str, options: dict[str, object]
) -> None:
    ours_only(impl, "stock 4.3.0 children inherit Python's ignored SIGPIPE and SIGXFSZ")
    pid = _start_app(start_daemon, workdir, options)
    # Python ignores SIGPIPE and SIGXFSZ; the child must get them back at their defaults.
    ignored = _status_mask(pid, "SigIgn")
    assert not ignored & (1 << (signal.SIGPIPE - 1)), f"SigIgn {ignored:#x}"
    assert not ignored & (1 << (signal.SIGXFSZ - 1)), f"SigIgn {ignored:#x}"
    assert _status_mask(pid, "SigBlk") == 0
