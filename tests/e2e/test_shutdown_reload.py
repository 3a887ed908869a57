"""Where ours is deliberately better than stock: shutdown by priority level, a bad config
on SIGHUP is refused, and a crashed program is back at once."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from tests.harness import build_config, child_cmd, ours_only, pid_alive, program, wait_until


def _term_ignoring(workdir: Path, name: str, priority: int) -> dict[str, object]:
    return program(
        child_cmd(
            "signals", workdir / f"{name}.signals", "--keep-running",
            "--pidfile", workdir / f"{name}.ready",
        ),
        priority=priority,
        startsecs=0,
        stopwaitsecs=1,
    )


def test_equal_priorities_stop_together_and_levels_stay_in_order(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "stock stops one group at a time: this shutdown takes 5 s there")
    programs = {f"slow{i}": _term_ignoring(workdir, f"slow{i}", 500) for i in range(4)}
    programs["first"] = _term_ignoring(workdir, "first", 100)
    daemon = start_daemon(build_config(workdir, programs))
    for name in programs:
        # The pidfile is written once the child's signal handlers are in place.
        wait_until((workdir / f"{name}.ready").exists, 10, f"{name} ready")
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(timeout=15) == 0
    elapsed = time.monotonic() - started
    # Two priority levels, each needing stopwaitsecs=1 then SIGKILL: about 2 s, not 5.
    assert elapsed < 4.0, f"shutdown took {elapsed:.1f}s"
    kills = re.findall(r"killing '(\w+)' \(\d+\) with SIGKILL", daemon.mainlog_text())
    assert kills[-1] == "first", kills  # the lower priority number stops last
    assert sorted(kills[:-1]) == [f"slow{i}" for i in range(4)]


def test_hup_with_a_broken_config_keeps_the_running_one(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "stock exits when the config it re-reads on SIGHUP is invalid")
    daemon = start_daemon(build_config(workdir, {"app": program(child_cmd("sleep"))}))
    pid = daemon.spawned_pid("app")
    daemon.write_config(
        build_config(workdir, {"app": program(child_cmd("sleep"), numprocs="l")})
    )
    daemon.signal(signal.SIGHUP)
    daemon.wait_log(r"not reloading, the new configuration is invalid: .*numprocs \('l'\)")
    assert daemon.returncode is None
    assert pid_alive(pid)


def test_killed_program_is_running_again_within_a_second(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "stock notices the exit on its next 1 s tick and needs another for RUNNING")
    daemon = start_daemon(
        build_config(
            workdir, {"app": program(child_cmd("sleep"), startsecs=0, autorestart=True)}
        )
    )
    pid = daemon.spawned_pid("app")
    daemon.wait_log(r"success: app entered RUNNING state")
    log_size = len(daemon.mainlog_text())
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    daemon.wait_log(r"success: app entered RUNNING state", start=log_size, timeout=5)
    assert time.monotonic() - killed_at < 1.0
    new_pid = wait_until(
        lambda: int(m.group(1))
        if (m := re.search(r"spawned: 'app' with pid (\d+)", daemon.mainlog_text()[log_size:]))
        else None,
        5,
        "respawn",
    )
    assert new_pid != pid and pid_alive(new_pid)
