"""Crash logs kept (ours, [supervisord] history = true): a real program that prints lines and
exits 3 leaves them in its history entry's log_tail, which stays after later restarts and is
shown by `supervisorctl history`; an expected exit keeps none; a live upgrade keeps both
the entries' tails and what running programs wrote before it; without history the daemon's
memory does not grow with the output it moves."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.ctl.ctlrun import run_ctl
from tests.e2e.test_restart_history import config, proxy, transitions, wait_entry, wait_state
from tests.harness import PY, build_config, ours_only, program, wait_until

LINES = 25


def crash_once(workdir: Path) -> str:
    """Prints LINES lines and one on stderr, exits 3; once restarted, sleeps."""
    marker = workdir / "crashed"
    return (
        f"/bin/sh -c 'if [ -e {marker} ]; then exec sleep 1000; fi; touch {marker}; "
        f'i=1; while [ $i -le {LINES} ]; do echo "line $i"; i=$((i+1)); done; '
        'echo "fatal: cannot open db" >&2; exit 3\''
    )


def crash_entry(workdir: Path, name: str) -> dict[str, Any]:
    return next(e for e in transitions(workdir, name) if e["to"] == "EXITED")


def test_a_crash_keeps_its_last_lines_across_restarts(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the history is ours")
    fine = program("/bin/sh -c 'echo all done; exit 0'", startsecs=0, autorestart=False)
    start_daemon(
        config(workdir, {"crash": program(crash_once(workdir), startsecs=0), "fine": fine})
    )
    entry = wait_entry(workdir, "crash", to="EXITED")
    assert (entry["exitstatus"], entry["reason"]) == (3, "exit")
    lines = entry["log_tail"].split("\n")
    # history_log_lines' default: 20 lines. stdout and stderr are separate pipes, so where
    # the stderr line falls among the others depends on which the daemon read first.
    assert len(lines) == 20 and "fatal: cannot open db" in lines
    printed = [line for line in lines if line.startswith("line ")]
    assert printed == [f"line {n}" for n in range(LINES - len(printed) + 1, LINES + 1)]
    # autorestart brought it back (it sleeps now); the crash's entry keeps its lines.
    wait_entry(workdir, "crash", reason="autorestart")
    assert wait_state(workdir, "crash", "RUNNING")
    out = run_ctl("ours", "restart", "crash", conf=workdir / "supervisord.conf")
    assert out.rc == 0, out
    wait_entry(workdir, "crash", to="STARTING", reason="request")
    assert crash_entry(workdir, "crash") == entry
    assert all(
        "log_tail" not in e
        for e in transitions(workdir, "crash")
        if e is not entry and e["to"] != "EXITED"
    )
    # An expected exit keeps nothing.
    done = wait_entry(workdir, "fine", to="EXITED")
    assert done["exitstatus"] == 0 and "log_tail" not in done

    out = run_ctl("ours", "history", "crash", "fine", conf=workdir / "supervisord.conf")
    assert out.rc == 0, out
    shown = out.stdout.splitlines()
    exited = next(i for i, line in enumerate(shown) if "RUNNING -> EXITED" in line)
    assert shown[exited + 1 : exited + 21] == [f"      {line}" for line in lines]
    assert "      all done" not in shown
    assert (
        "indented under its entry"
        in run_ctl("ours", "help", "history", conf=workdir / "supervisord.conf").stdout
    )


def test_history_log_lines_sets_how_many(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the history is ours")
    text = config(workdir, {"crash": program(crash_once(workdir), startsecs=0)})
    start_daemon(text.replace("history_size=30", "history_size=30\nhistory_log_lines=3"))
    lines = wait_entry(workdir, "crash", to="EXITED")["log_tail"].split("\n")
    assert len(lines) == 3 and "fatal: cannot open db" in lines


def test_a_live_upgrade_keeps_the_tails(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the history and the live upgrade are ours")
    talker = program("/bin/sh -c 'echo said before the upgrade; exec sleep 1000'", startsecs=0)
    daemon = start_daemon(
        config(
            workdir,
            {
                "crash": program(crash_once(workdir), startsecs=0, autorestart=False),
                "talker": talker,
            },
        )
    )
    entry = wait_entry(workdir, "crash", to="EXITED")
    assert "fatal: cannot open db" in entry["log_tail"]
    pid = wait_state(workdir, "talker", "RUNNING")["pid"]
    before = proxy(workdir).runtime.getDaemonInfo()["generation"]
    out = run_ctl("ours", "upgrade", conf=daemon.conf_path)
    assert out.rc == 0, out
    assert proxy(workdir).runtime.getDaemonInfo()["generation"] == before + 1
    assert crash_entry(workdir, "crash") == entry
    # What talker wrote before the upgrade is still its tail when it dies after it (a
    # SIGKILL supervisord did not send: a crash).
    assert wait_state(workdir, "talker", "RUNNING")["pid"] == pid
    os.kill(pid, signal.SIGKILL)
    killed = wait_entry(workdir, "talker", to="EXITED")
    assert (killed["signal"], killed["log_tail"]) == ("SIGKILL", "said before the upgrade")


def vm_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_memory_does_not_grow_with_output(impl: str, start_daemon, workdir: Path) -> None:
    """64 MiB through the daemon, history off then on: its RSS after the first 8 MiB and
    after all of it differ by far less than the output (no tail without history, a bounded
    one with it)."""
    ours_only(impl, "the tail is ours")
    go, log, script = workdir / "go", workdir / "bulk.log", workdir / "bulk.py"
    script.write_text(
        "import os, sys, time\n"
        "line = b'x' * 1023 + b'\\n'\n"
        "def burst(mib):\n"
        "    for _ in range(mib * 1024):\n"
        "        sys.stdout.buffer.write(line)\n"
        "    sys.stdout.flush()\n"
        "burst(8)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.05)\n"
        "burst(56)\n"
        "time.sleep(1000)\n"
    )
    writer = f"{PY} {script}"
    for history in (False, True):
        go.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
        text = build_config(
            workdir,
            {"bulk": program(writer, startsecs=0, stdout_logfile=log, stdout_logfile_maxbytes=0)},
            supervisord={"history": True} if history else {},
            unix_socket=True,
        )
        daemon = start_daemon(text)
        wait_until(lambda: log.exists() and log.stat().st_size >= 8 << 20, 30, "8 MiB logged")
        first = vm_rss_kib(daemon.daemon_pid())
        go.touch()
        wait_until(lambda: log.stat().st_size >= 64 << 20, 60, "64 MiB logged")
        growth = vm_rss_kib(daemon.daemon_pid()) - first
        assert growth < 2048, f"history={history}: RSS grew {growth} KiB for 56 MiB of output"
        daemon.stop()
