"""A child that writes in bulk: every byte kept, and (ours) its pipe grown to 1 MiB.

Ours enlarges the pipe of a channel that fills it and goes straight to its log, so each
wake-up moves up to 1 MiB (see output.BIG_PIPE_SIZE); channels whose chunks are visible
(events, capture) and children that write a line at a time keep the default 64 KiB.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tests.e2e.child import known_stream
from tests.harness import (
    StartDaemon,
    build_config,
    child_cmd,
    ours_only,
    program,
    wait_until,
)

MIB = 1 << 20
DEFAULT_PIPE = 1 << 16


def _stdout_pipe_size(pid: int) -> int:
    fd = os.open(f"/proc/{pid}/fd/1", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(fd)


def _joined(log: Path, backups: int) -> bytes:
    names = [log.with_name(f"{log.name}.{i}") for i in range(backups, 0, -1)] + [log]
    return b"".join(p.read_bytes() for p in names if p.exists())


def test_bulk_output_keeps_every_byte_across_rotation(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    log, total = workdir / "bulk.log", 6 * MIB
    progs = {
        "bulk": program(
            child_cmd("bytes", total, "--chunk", 65536),
            stdout_logfile=log,
            stdout_logfile_maxbytes=MIB,
            stdout_logfile_backups=10,
        )
    }
    start_daemon(build_config(workdir, progs))
    wait_until(lambda: len(_joined(log, 10)) >= total, 30, "6 MiB across the rotated logs")
    assert _joined(log, 10) == known_stream(total)


def test_bulk_output_written_just_before_exit_is_kept(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    log, total = workdir / "bulk.log", 3 * MIB
    progs = {
        "bulk": program(
            child_cmd("bytes", total, "--chunk", 65536, "--exit"),
            stdout_logfile=log,
            stdout_logfile_maxbytes=0,
            autorestart=False,
            startsecs=0,
        )
    }
    d = start_daemon(build_config(workdir, progs))
    d.wait_log(r"exited: bulk \(exit status 0; expected\)", timeout=30)
    assert log.read_bytes() == known_stream(total)


def test_pipe_grows_only_for_bulk_output_straight_to_a_log(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "stock reads every pipe at its default size")
    bulk = child_cmd("bytes", 4 * MIB, "--chunk", 65536)
    progs = {
        "bulk": program(bulk, stdout_logfile=workdir / "bulk.log"),
        "evented": program(
            bulk, stdout_logfile=workdir / "evented.log", stdout_events_enabled=True
        ),
        "lines": program(child_cmd("lines", 200), stdout_logfile=workdir / "lines.log"),
    }
    # At loglevel debug the daemon echoes child output to its main log: no channel grows.
    d = start_daemon(build_config(workdir, progs, supervisord={"loglevel": "info"}))
    pids = {name: d.spawned_pid(name) for name in progs}
    wait_until(lambda: _stdout_pipe_size(pids["bulk"]) == MIB, 20, "the bulk pipe grown")
    for name in ("bulk", "evented"):
        log = workdir / f"{name}.log"
        wait_until(lambda log=log: log.stat().st_size >= 4 * MIB, 20, f"{name}'s output")
    wait_until(lambda: b"199" in (workdir / "lines.log").read_bytes(), 20, "200 lines")
    assert _stdout_pipe_size(pids["evented"]) == DEFAULT_PIPE
    assert _stdout_pipe_size(pids["lines"]) == DEFAULT_PIPE
