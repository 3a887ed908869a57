"""Signals sent to the daemon: TERM/INT/QUIT shut down, HUP reloads (USR2: see test_logs)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.harness import (
    StartDaemon,
    build_config,
    child_cmd,
    pid_alive,
    program,
    stays_true,
    wait_until,
)

SHUTDOWN_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT]


@pytest.mark.parametrize("sig", SHUTDOWN_SIGNALS, ids=lambda s: s.name)
def test_shutdown_signals_stop_everything(
    sig: signal.Signals, start_daemon: StartDaemon, workdir: Path
) -> None:
    progs = {
        "first": program(child_cmd("sleep"), priority=10),
        "second": program(child_cmd("signals", workdir / "second.sig"), priority=20),
        "third": program(child_cmd("sleep"), priority=30),
    }
    d = start_daemon(build_config(workdir, progs))
    pids = [d.spawned_pid(name) for name in progs]
    d.wait_log(r"success: third entered RUNNING state")
    d.signal(sig)
    assert d.wait_exit(20) == 0
    d.wait_log(rf"received {sig.name} indicating exit request")
    assert d.log_order(r"stopped: (\w+) \(") == ["third", "second", "first"]
    # The stop signal is TERM whatever the daemon itself received.
    assert (workdir / "second.sig").read_text().split() == ["SIGTERM"]
    assert not [p for p in pids if pid_alive(p)]
    assert d.leftover_pids() == [], "processes left behind after shutdown"


def test_hup_reloads_config(start_daemon: StartDaemon, workdir: Path) -> None:
    keep = program(child_cmd("sleep"))
    conf = build_config(workdir, {"keep": keep, "gone": program(child_cmd("sleep"))})
    d = start_daemon(conf)
    gone_pid = d.spawned_pid("gone")
    d.wait_log(r"success: keep entered RUNNING state")
    d.wait_log(r"success: gone entered RUNNING state")
    mark = len(d.mainlog_text())

    d.write_config(build_config(workdir, {"keep": keep, "added": program(child_cmd("sleep"))}))
    d.signal(signal.SIGHUP)
    d.wait_log(r"received SIGHUP indicating restart request", start=mark)
    added_pid = d.spawned_pid("added", timeout=15, start=mark)
    d.wait_log(r"success: added entered RUNNING state", start=mark)
    wait_until(lambda: not pid_alive(gone_pid), 10, "removed program stopped")
    assert pid_alive(added_pid)
    assert d.returncode is None
    after = d.mainlog_text()[mark:]
    stays_true(
        lambda: not re.search(r"spawned: 'gone'", d.mainlog_text()[mark:]),
        1.1,
        "removed program not respawned",
    )
    assert "stopped: gone" in after
