"""Child output capture: log files, AUTO/NONE, rotation, /dev/stdout, strip_ansi, reopen."""

from __future__ import annotations

import errno
import os
import re
import signal
from pathlib import Path

from tests.e2e.child import known_stream
from tests.harness import (
    StartDaemon,
    build_config,
    child_cmd,
    ours_only,
    program,
    stays_true,
    wait_file,
    wait_until,
)


def text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def open_fifo_writer(path: Path, timeout: float = 10) -> int:
    """Open a named pipe for writing once its reader (the child) has it open."""

    def try_open() -> int | None:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no reader yet
                return None
            raise

    return wait_until(try_open, timeout, f"a reader on {path}")


def test_stdout_and_separate_stderr_files(start_daemon: StartDaemon, workdir: Path) -> None:
    out, err = workdir / "out.log", workdir / "err.log"
    cmd = child_cmd("lines", 3, "--stream", "both")
    progs = {"app": program(cmd, stdout_logfile=out, stderr_logfile=err)}
    start_daemon(build_config(workdir, progs))
    wait_until(lambda: text(out).endswith("line2\n"), 10, "three stdout lines")
    wait_until(lambda: text(err).endswith("lineerr2\n"), 10, "three stderr lines")
    assert text(out) == "line0\nline1\nline2\n"
    assert text(err) == "lineerr0\nlineerr1\nlineerr2\n"


def test_redirect_stderr_into_stdout_log(start_daemon: StartDaemon, workdir: Path) -> None:
    out = workdir / "out.log"
    cmd = child_cmd("lines", 2, "--stream", "err")
    progs = {"app": program(cmd, stdout_logfile=out, redirect_stderr=True)}
    start_daemon(build_config(workdir, progs))
    wait_until(lambda: text(out) == "line0\nline1\n", 10, "stderr lines in the stdout log")


def test_auto_logs_in_childlogdir_and_cleanup(start_daemon: StartDaemon, workdir: Path) -> None:
    childlogs = workdir / "childlogs"
    childlogs.mkdir(exist_ok=True)
    stale = childlogs / "old-stdout---supervisor-abc123.log"
    stale.write_text("stale\n")
    unrelated = childlogs / "keep-me.txt"
    unrelated.write_text("mine\n")
    cmd = child_cmd("lines", 2, "--stream", "both")
    start_daemon(build_config(workdir, {"app": program(cmd)}))  # logfiles default to AUTO

    def auto_files(channel: str) -> list[Path]:
        return sorted(childlogs.glob(f"app-{channel}---supervisor-*.log"))

    wait_until(lambda: len(auto_files("stdout")) == 1, 10, "AUTO stdout log created")
    out, errs = auto_files("stdout")[0], auto_files("stderr")
    assert len(errs) == 1, "stderr gets its own AUTO log when not redirected"
    wait_until(lambda: text(out) == "line0\nline1\n", 10, "lines in AUTO stdout log")
    wait_until(lambda: text(errs[0]) == "lineerr0\nlineerr1\n", 10, "lines in AUTO stderr log")
    assert not stale.exists(), "old AUTO logs are removed at start"
    assert unrelated.exists(), "only AUTO-named files are cleaned"


def test_nocleanup_keeps_old_auto_logs(start_daemon: StartDaemon, workdir: Path) -> None:
    childlogs = workdir / "childlogs"
    childlogs.mkdir(exist_ok=True)
    stale = childlogs / "old-stdout---supervisor-abc123.log"
    stale.write_text("stale\n")
    conf = build_config(
        workdir, {"app": program(child_cmd("lines", 1))}, supervisord={"nocleanup": True}
    )
    d = start_daemon(conf)
    d.wait_log(r"success: app entered RUNNING state")
    assert stale.exists()


def test_none_keeps_no_log(start_daemon: StartDaemon, workdir: Path) -> None:
    cmd = child_cmd("lines", 5, "--stream", "both")
    progs = {"app": program(cmd, stdout_logfile="NONE", stderr_logfile="NONE")}
    d = start_daemon(build_config(workdir, progs))
    d.wait_log(r"success: app entered RUNNING state")
    assert list((workdir / "childlogs").iterdir()) == []


def rotated_files(log: Path, backups: int) -> list[Path]:
    """Oldest first: log.N ... log.1, log (those that exist)."""
    names = [log.with_name(f"{log.name}.{i}") for i in range(backups, 0, -1)] + [log]
    return [p for p in names if p.exists()]


def test_rotation_keeps_every_byte_in_order(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    log, total, maxbytes, backups = workdir / "app.log", 60_000, 10_000, 10
    cmd = child_cmd("bytes", total, "--chunk", 3000, "--pause", 0.01)
    progs = {
        "app": program(
            cmd, stdout_logfile=log, stdout_logfile_maxbytes=maxbytes,
            stdout_logfile_backups=backups,
        )
    }
    start_daemon(build_config(workdir, progs))

    def joined() -> bytes:
        return b"".join(p.read_bytes() for p in rotated_files(log, backups))

    def all_written() -> bool:
        try:
            return len(joined()) >= total
        except FileNotFoundError:  # caught between rotation's rename and the new file
            return False

    wait_until(all_written, 15, f"{total} bytes across the rotated logs")
    assert log.with_name("app.log.1").exists(), "the log rotated"
    assert joined() == known_stream(total), "bytes lost or reordered across rotation"
    if impl == "ours":
        # Stock rotates only after a write, so a file may overshoot maxbytes by a chunk.
        sizes = {p.name: p.stat().st_size for p in rotated_files(log, backups)}
        assert max(sizes.values()) <= maxbytes, f"a log file exceeds maxbytes: {sizes}"


def test_backups_limit_number_of_files(start_daemon: StartDaemon, workdir: Path) -> None:
    log = workdir / "app.log"
    cmd = child_cmd("bytes", 50_000, "--chunk", 2000, "--pause", 0.01)
    progs = {
        "app": program(
            cmd, stdout_logfile=log, stdout_logfile_maxbytes=5000, stdout_logfile_backups=2
        )
    }
    start_daemon(build_config(workdir, progs))
    tail = known_stream(50_000)[-1000:]
    wait_until(lambda: log.exists() and log.read_bytes().endswith(tail), 15, "stream written")
    assert log.with_name("app.log.2").exists()
    assert not log.with_name("app.log.3").exists()


def test_maxbytes_zero_never_rotates(start_daemon: StartDaemon, workdir: Path) -> None:
    log, total = workdir / "app.log", 40_000
    cmd = child_cmd("bytes", total, "--chunk", 4000)
    progs = {"app": program(cmd, stdout_logfile=log, stdout_logfile_maxbytes=0)}
    start_daemon(build_config(workdir, progs))
    wait_until(lambda: log.exists() and log.stat().st_size >= total, 10, "all bytes logged")
    assert log.read_bytes() == known_stream(total)
    assert not log.with_name("app.log.1").exists()


def test_dev_stdout_with_maxbytes_zero_reaches_daemon_stdout(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    # Seed 002's Docker example: the daemon's stdout is a pipe read by the container runtime.
    progs = {
        "app": program(
            child_cmd("lines", 3, "--prefix", "to-docker-", "--stream", "both"),
            stdout_logfile="/dev/stdout",
            stdout_logfile_maxbytes=0,
            stderr_logfile="/dev/stderr",
            stderr_logfile_maxbytes=0,
        )
    }
    d = start_daemon(build_config(workdir, progs), pipe_output=True)
    wait_until(lambda: "to-docker-2\n" in d.output_text(), 10, "child stdout on daemon stdout")
    wait_until(lambda: "to-docker-err2\n" in d.output_text(), 10, "child stderr too")
    assert "Illegal seek" not in d.output_text() + d.mainlog_text()


def test_dev_stdout_with_default_maxbytes(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(
        impl,
        "stock 4.3.0 logs the first chunk, then 'OSError: [Errno 29] Illegal seek' closes the "
        "channel when /dev/stdout is a pipe and stdout_logfile_maxbytes is not 0",
    )
    fifo = workdir / "feed"
    os.mkfifo(fifo)
    progs = {"app": program(child_cmd("relay", fifo), stdout_logfile="/dev/stdout")}
    d = start_daemon(build_config(workdir, progs), pipe_output=True)
    writer = open_fifo_writer(fifo)
    try:
        for word in ("first", "second", "third"):
            os.write(writer, f"piped-{word}\n".encode())
            wait_until(lambda w=word: f"piped-{w}\n" in d.output_text(), 10, f"{word} line")
    finally:
        os.close(writer)
    assert "Illegal seek" not in d.output_text() + d.mainlog_text()


def test_strip_ansi(start_daemon: StartDaemon, workdir: Path) -> None:
    out = workdir / "out.log"
    progs = {"app": program(child_cmd("ansi"), stdout_logfile=out)}
    start_daemon(build_config(workdir, progs, supervisord={"strip_ansi": True}))
    wait_until(lambda: text(out).endswith("\n"), 10, "colored line logged")
    assert text(out) == "red plain bold\n"


def test_usr2_reopens_child_logs(start_daemon: StartDaemon, workdir: Path) -> None:
    out, moved, fifo = workdir / "out.log", workdir / "out.log.old", workdir / "feed"
    os.mkfifo(fifo)
    progs = {"app": program(child_cmd("relay", fifo), stdout_logfile=out)}
    d = start_daemon(build_config(workdir, progs))
    writer = open_fifo_writer(fifo)
    try:
        os.write(writer, b"before\n")
        wait_until(lambda: text(out) == "before\n", 10, "first line logged")
        out.rename(moved)
        d.signal(signal.SIGUSR2)
        wait_until(out.exists, 10, "log reopened under its name after USR2")
        os.write(writer, b"after\n")
        wait_until(lambda: text(out) == "after\n", 10, "new output in the new file")
    finally:
        os.close(writer)
    assert text(moved) == "before\n"
    d.wait_log(r"received SIGUSR2 indicating log reopen")


def test_main_log_rotates(start_daemon: StartDaemon, workdir: Path) -> None:
    main = workdir / "supervisord.log"
    progs = {f"p{i}": program(child_cmd("exit", 1), startretries=1) for i in range(6)}
    conf = build_config(
        workdir,
        progs,
        supervisord={"logfile_maxbytes": 2000, "logfile_backups": 2, "loglevel": "debug"},
    )
    start_daemon(conf)
    backup = main.with_name("supervisord.log.1")
    wait_until(backup.exists, 15, "main log rotated to supervisord.log.1")
    wait_until(lambda: main.exists(), 5, "a fresh main log")
    stays_true(lambda: not main.with_name("supervisord.log.3").exists(), 0.2, "backups <= 2")
    assert wait_file(backup)


def test_undecodable_output_in_the_debug_main_log(start_daemon: StartDaemon, workdir: Path) -> None:
    """At loglevel=debug child output is echoed to the main log; bytes that are not UTF-8
    appear as their repr, as supervisord writes them (not with U+FFFD). With strip_ansi the
    echo is stripped too."""
    progs = {
        "raw": program(r"/usr/bin/printf '\210\n'", startsecs=0, autorestart=False),
        "text": program(r"/usr/bin/printf 'caf\303\251\n'", startsecs=0, autorestart=False),
        "ansi": program(child_cmd("ansi")),
    }
    conf = build_config(workdir, progs, supervisord={"loglevel": "debug", "strip_ansi": True})
    d = start_daemon(conf)
    d.wait_log(re.escape("'raw' stdout output:\nUndecodable: b'\\x88\\n'\n"))
    d.wait_log(re.escape("'text' stdout output:\ncafé\n"))
    d.wait_log(re.escape("'ansi' stdout output:\nred plain bold\n"))
