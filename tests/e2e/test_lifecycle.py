"""Process lifecycle as seen from outside: main log wording, /proc, and child side effects."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from tests.harness import (
    Daemon,
    StartDaemon,
    build_config,
    child_cmd,
    children_of,
    pid_alive,
    proc_cmdline,
    proc_pgid,
    program,
    stays_true,
    wait_file,
    wait_until,
)


def spawn_count(daemon: Daemon, name: str) -> int:
    return len(re.findall(rf"spawned: '{re.escape(name)}' with pid \d+", daemon.mainlog_text()))


def test_spawn_reaches_running_in_own_process_group(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    conf = build_config(workdir, {"app": program(child_cmd("sleep"))})
    d = start_daemon(conf)
    pid = d.spawned_pid("app")
    d.wait_log(
        r"success: app entered RUNNING state, process has stayed up for > than 1 seconds "
        r"\(startsecs\)"
    )
    assert pid_alive(pid)
    assert "child.py" in " ".join(proc_cmdline(pid))
    assert pid in children_of(d.pid)
    assert proc_pgid(pid) == pid, "each child must lead its own process group"
    assert proc_pgid(pid) != proc_pgid(d.pid)


def test_exit_not_expected_without_autorestart(start_daemon: StartDaemon, workdir: Path) -> None:
    count = workdir / "count"
    cmd = child_cmd("exit", 1, "--after", 1.3, "--count-file", count)
    d = start_daemon(build_config(workdir, {"app": program(cmd, autorestart=False)}))
    d.wait_log(r"exited: app \(exit status 1; not expected\)")
    stays_true(lambda: spawn_count(d, "app") == 1, 1.5, "app not restarted")


def test_expected_exits_and_autorestart_unexpected(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    progs = {
        # exit 0 is in the default exitcodes: expected, so `unexpected` does not restart it.
        "zero": program(child_cmd("exit", 0, "--after", 1.3), autorestart="unexpected"),
        # exitcodes=3 makes 3 the expected status.
        "three": program(
            child_cmd("exit", 3, "--after", 1.3), autorestart="unexpected", exitcodes="0,3"
        ),
        # 2 is not expected, so it comes back.
        "two": program(child_cmd("exit", 2, "--after", 1.3), autorestart="unexpected"),
    }
    d = start_daemon(build_config(workdir, progs))
    d.wait_log(r"exited: zero \(exit status 0; expected\)")
    d.wait_log(r"exited: three \(exit status 3; expected\)")
    d.wait_log(r"exited: two \(exit status 2; not expected\)")
    wait_until(lambda: spawn_count(d, "two") >= 2, 10, "'two' restarted")
    assert spawn_count(d, "zero") == 1
    assert spawn_count(d, "three") == 1


def test_autorestart_true_restarts_expected_exit(start_daemon: StartDaemon, workdir: Path) -> None:
    cmd = child_cmd("exit", 0, "--after", 1.2)
    d = start_daemon(build_config(workdir, {"app": program(cmd, autorestart=True)}))
    d.wait_log(r"exited: app \(exit status 0; expected\)")
    wait_until(lambda: spawn_count(d, "app") >= 2, 10, "app respawned after expected exit")


def test_startretries_backoff_then_fatal(start_daemon: StartDaemon, workdir: Path) -> None:
    cmd = child_cmd("exit", 1)
    # startsecs=3: a wide "too quickly" window, so a loaded machine (stock notices exits
    # only on its 1 s tick) cannot make an immediate exit count as a successful start.
    opts = program(cmd, startretries=2, startsecs=3)
    d = start_daemon(build_config(workdir, {"app": opts}))
    d.wait_log(r"gave up: app entered FATAL state, too many start retries too quickly", 15)
    log = d.mainlog_text()
    # One first try plus startretries retries, each ending before startsecs.
    assert spawn_count(d, "app") == 3
    assert len(re.findall(r"exited: app \(exit status 1; not expected\)", log)) == 3
    spawned = stamps_of(log, r"INFO spawned: 'app'")
    exited = stamps_of(log, r"\w+ exited: app ")
    # The delay from an exit to the next spawn grows by a second per failed try (1 s, then
    # 2 s). Measured from the exit, not between spawns: stock notices an exit and ends a
    # delay on its 1 s tick, so each delay is up to a second late, never early.
    delays = [spawn - exit for exit, spawn in zip(exited, spawned[1:], strict=False)]
    assert len(delays) == 2 and delays[1] > delays[0], f"backoff should grow: delays {delays}"
    stays_true(lambda: spawn_count(d, "app") == 3, 1.2, "no spawn after FATAL")


def stamps_of(log: str, pattern: str) -> list[float]:
    """The times of the main log's lines matching ``pattern`` (after the timestamp)."""
    return [
        parse_stamp(m.group(1)) for m in re.finditer(rf"^(\S+ \S+) {pattern}", log, re.MULTILINE)
    ]


def parse_stamp(stamp: str) -> float:
    """Seconds since midnight of a main log timestamp like `2024-01-02 03:04:05,678`."""
    clock = stamp.split(" ")[1]
    hms, millis = clock.split(",")
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s + int(millis) / 1000


def test_spawn_errors_leave_daemon_running(start_daemon: StartDaemon, workdir: Path) -> None:
    plain = workdir / "not_executable.sh"
    plain.write_text("#!/bin/sh\nsleep 100\n")
    plain.chmod(0o644)
    progs = {
        "missing": program("/nonexistent/prog --flag", startretries=0),
        "noexec": program(f"{plain} arg", startretries=0),
        "ok": program(child_cmd("sleep")),
    }
    d = start_daemon(build_config(workdir, progs))
    d.wait_log(r"spawnerr: can't find command '/nonexistent/prog'")
    d.wait_log(rf"spawnerr: command at '{re.escape(str(plain))}' is not executable")
    d.wait_log(r"gave up: missing entered FATAL state")
    d.wait_log(r"gave up: noexec entered FATAL state")
    d.wait_log(r"success: ok entered RUNNING state")
    assert d.returncode is None
    assert "spawned: 'missing'" not in d.mainlog_text()


def test_stopsignal_is_honoured(start_daemon: StartDaemon, workdir: Path) -> None:
    got = workdir / "signals"
    cmd = child_cmd("signals", got)
    d = start_daemon(build_config(workdir, {"app": program(cmd, stopsignal="USR1")}))
    d.wait_log(r"success: app entered RUNNING state")
    d.signal(signal.SIGTERM)
    assert d.wait_exit(15) == 0
    assert wait_file(got).split() == ["SIGUSR1"]
    assert re.search(r"stopped: app \(exit status 0\)", d.mainlog_text())


def test_stopwaitsecs_then_sigkill(start_daemon: StartDaemon, workdir: Path) -> None:
    got = workdir / "signals"
    cmd = child_cmd("signals", got, "--keep-running")
    d = start_daemon(build_config(workdir, {"app": program(cmd, stopwaitsecs=1)}))
    pid = d.spawned_pid("app")
    d.wait_log(r"success: app entered RUNNING state")
    d.signal(signal.SIGTERM)
    d.wait_log(rf"killing 'app' \({pid}\) with SIGKILL", 15)
    d.wait_log(r"stopped: app \(terminated by SIGKILL\)")
    assert d.wait_exit(15) == 0
    assert wait_file(got).split() == ["SIGTERM"]
    assert not pid_alive(pid)


def test_stopasgroup_and_killasgroup_reach_grandchildren(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    progs = {
        # TERM to the group kills both.
        "soft": program(child_cmd("grandchild", workdir / "soft"), stopasgroup=True),
        # Both ignore TERM: only the group SIGKILL after stopwaitsecs gets them.
        "hard": program(
            child_cmd("grandchild", workdir / "hard", "--ignore-term", "--grandchild-ignores-term"),
            killasgroup=True,
        ),
        # Without either option the grandchild outlives its parent.
        "plain": program(child_cmd("grandchild", workdir / "plain")),
    }
    d = start_daemon(build_config(workdir, progs))
    grand = {name: int(wait_file(workdir / name)) for name in progs}
    d.wait_log(r"success: plain entered RUNNING state")
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0
    wait_until(lambda: not pid_alive(grand["soft"]), 5, "soft's grandchild gone")
    wait_until(lambda: not pid_alive(grand["hard"]), 5, "hard's grandchild gone")
    assert pid_alive(grand["plain"]), "a plain stop signals only the child itself"


def test_priority_order_start_and_reverse_stop(start_daemon: StartDaemon, workdir: Path) -> None:
    progs = {
        "late": program(child_cmd("sleep"), priority=300),
        "early": program(child_cmd("sleep"), priority=100),
        "middle": program(child_cmd("sleep"), priority=200),
    }
    d = start_daemon(build_config(workdir, progs))
    d.wait_log(r"success: late entered RUNNING state")
    d.wait_log(r"success: early entered RUNNING state")
    assert d.log_order(r"spawned: '(\w+)'") == ["early", "middle", "late"]
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0
    assert d.log_order(r"stopped: (\w+) \(") == ["late", "middle", "early"]


def test_autostart_false_is_not_spawned(start_daemon: StartDaemon, workdir: Path) -> None:
    progs = {
        "manual": program(child_cmd("sleep"), autostart=False),
        "auto": program(child_cmd("sleep")),
    }
    d = start_daemon(build_config(workdir, progs))
    d.wait_log(r"success: auto entered RUNNING state")
    stays_true(lambda: "'manual'" not in d.mainlog_text(), 1.1, "manual never spawned")


def test_numprocs_expands_process_names(start_daemon: StartDaemon, workdir: Path) -> None:
    name_format = "%(program_name)s_%(process_num)02d"
    opts = program(child_cmd("sleep"), numprocs=3, process_name=name_format)
    d = start_daemon(build_config(workdir, {"worker": opts}))
    for name in ("worker_00", "worker_01", "worker_02"):
        d.wait_log(rf"success: {name} entered RUNNING state")
    assert len(children_of(d.pid)) == 3


def test_group_membership(start_daemon: StartDaemon, workdir: Path) -> None:
    progs = {
        "web": program(child_cmd("context", workdir / "web.json")),
        "cache": program(child_cmd("context", workdir / "cache.json")),
        "solo": program(child_cmd("context", workdir / "solo.json")),
    }
    conf = build_config(workdir, progs, extra={"group:site": {"programs": "web,cache"}})
    d = start_daemon(conf)
    for name, group in (("web", "site"), ("cache", "site"), ("solo", "solo")):
        env = json.loads(wait_file(workdir / f"{name}.json"))["env"]
        assert env["SUPERVISOR_PROCESS_NAME"] == name
        assert env["SUPERVISOR_GROUP_NAME"] == group
    d.wait_log(r"success: web entered RUNNING state")
