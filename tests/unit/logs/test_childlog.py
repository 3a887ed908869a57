from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from supervisor_runtime.config.model import StreamConfig
from supervisor_runtime.logs.childlog import (
    ChildStreamLog,
    LogFileTable,
    auto_log_pattern,
    auto_logfile_name,
    clean_auto_logs,
)
from supervisor_runtime.logs.syslog import MAX_LINE, SyslogWriter
from tests.stock import stock_python


def test_feed_writes_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    log = ChildStreamLog(StreamConfig(), str(path), strip_ansi=False, process_name="app")
    assert log.enabled
    log.feed(b"\x1b[31mhello\x1b[0m\n")
    log.close()
    assert path.read_bytes() == b"\x1b[31mhello\x1b[0m\n"


def test_feed_strips_ansi_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    log = ChildStreamLog(StreamConfig(), str(path), strip_ansi=True, process_name="app")
    log.feed(b"\x1b[3")
    log.feed(b"1mhello\x1b[0m\n")
    log.close()
    assert path.read_bytes() == b"hello\n"


def test_rotation_settings_come_from_stream_config(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    cfg = StreamConfig(logfile=str(path), logfile_maxbytes=10, logfile_backups=1)
    log = ChildStreamLog(cfg, str(path), strip_ansi=False, process_name="app")
    log.feed(b"0123456789abc")
    log.close()
    assert Path(f"{path}.1").read_bytes() == b"0123456789"
    assert path.read_bytes() == b"abc"


def test_no_file_no_syslog_is_disabled() -> None:
    log = ChildStreamLog(StreamConfig(logfile=None), None, strip_ansi=True, process_name="x")
    assert not log.enabled
    log.feed(b"ignored")
    log.reopen()
    log.clear()
    log.close()


def test_syslog_lines_prefixed_with_process_name() -> None:
    sent: list[str] = []
    cfg = StreamConfig(logfile=None, syslog=True)
    log = ChildStreamLog(cfg, None, strip_ansi=True, process_name="web_01", syslog_emit=sent.append)
    log.feed(b"one\ntw")
    log.feed(b"o\x1b[0m\n\nthree")
    assert sent == ["web_01 one", "web_01 two", "web_01 "]
    log.close()
    assert sent[-1] == "web_01 three"


def test_syslog_writer_bounds_partial_line_and_decodes_badly_encoded_bytes() -> None:
    sent: list[str] = []
    w = SyslogWriter("p", sent.append)
    w.write(b"x" * (MAX_LINE + 5))
    assert sent == ["p " + "x" * MAX_LINE]
    assert w.pending == b"xxxxx"
    w.write(b"\xff\n")
    assert sent[-1] == "p xxxxx\ufffd"


def test_reopen_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    log = ChildStreamLog(StreamConfig(), str(path), strip_ansi=False, process_name="app")
    log.feed(b"a")
    os.rename(path, tmp_path / "old")
    log.reopen()
    log.feed(b"b")
    assert path.read_bytes() == b"b"
    log.clear()
    assert path.read_bytes() == b""
    log.close()


def test_write_errors_go_to_on_error() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full missing")
    errors: list[str] = []
    log = ChildStreamLog(
        StreamConfig(), "/dev/full", strip_ansi=False, process_name="app", on_error=errors.append
    )
    log.feed(b"data")
    log.close()
    assert len(errors) == 1 and "'app'" in errors[0] and "/dev/full" in errors[0]
    raising = ChildStreamLog(StreamConfig(), "/dev/full", strip_ansi=False, process_name="app")
    with pytest.raises(OSError):
        raising.feed(b"data")
    raising.close()


def test_stdout_and_stderr_sharing_one_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    cfg = StreamConfig(logfile_maxbytes=10, logfile_backups=2)
    files = LogFileTable()
    out = ChildStreamLog(cfg, str(path), strip_ansi=False, process_name="app", files=files)
    err = ChildStreamLog(cfg, str(tmp_path / "." / "app.log"), False, "app", files=files)
    assert out.file is err.file and len(files) == 1
    for _ in range(3):
        out.feed(b"ooooo")
        err.feed(b"eeeee")
    assert Path(f"{path}.1").read_bytes() == b"oooooeeeee"
    assert Path(f"{path}.2").read_bytes() == b"oooooeeeee"
    out.close()
    assert err.file is not None and not err.file.closed
    err.feed(b"z")
    err.close()
    assert len(files) == 0
    assert path.read_bytes() == b"z"


def test_auto_logfile_name(tmp_path: Path) -> None:
    name = auto_logfile_name(str(tmp_path), "app", "stdout", "supervisor")
    base = os.path.basename(name)
    assert os.path.dirname(name) == str(tmp_path)
    assert re.fullmatch(r"app-stdout---supervisor-[A-Za-z0-9_]+\.log", base), base
    assert not os.path.exists(name)  # created by the daemon on first output
    assert auto_logfile_name(str(tmp_path), "app", "stdout", "supervisor") != name
    assert auto_log_pattern("supervisor").match(base)


def test_clean_auto_logs(tmp_path: Path) -> None:
    names = [
        "app-stdout---supervisor-abc123.log",
        "app-stderr---supervisor-x_y.log.1",
        "app-stderr---supervisor-x_y.log.10",
        "other-stdout---other-abc.log",  # another daemon's identifier
        "app.log",
        "notes---supervisor.txt",
    ]
    for n in names:
        (tmp_path / n).write_text("x")
    warnings: list[str] = []
    removed = clean_auto_logs(str(tmp_path), "supervisor", warnings.append)
    assert sorted(os.path.basename(p) for p in removed) == sorted(names[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])
    assert warnings == []
    assert clean_auto_logs(str(tmp_path / "missing"), "supervisor", warnings.append) == []
    assert warnings == ["Could not clear childlog dir"]


def test_clean_auto_logs_reports_failures(tmp_path: Path) -> None:
    (tmp_path / "app-stdout---supervisor-dir.log").mkdir()
    warnings: list[str] = []
    assert clean_auto_logs(str(tmp_path), "supervisor", warnings.append) == []
    assert warnings == [f"Failed to clean up {str(tmp_path / 'app-stdout---supervisor-dir.log')!r}"]


STOCK_CLEAN = """
import sys
from supervisor.options import ServerOptions
class Quiet:
    def warn(self, msg):
        print(msg)
opts = ServerOptions()
opts.childlogdir, opts.identifier, opts.logger = sys.argv[1], sys.argv[2], Quiet()
opts.clear_autochildlogdir()
"""


@pytest.mark.stock
def test_clean_removes_the_same_files_as_stock(tmp_path: Path) -> None:
    samples = [
        "a-stdout---supervisor-x.log",
        "a-stdout---supervisor-x.log.3",
        "a-stdout---supervisor-x.log.12345",
        "a-stdout---supervisor-.log",
        "---supervisor-x.log",
        "a---supervisor-x.logfoo",
        "a---supervisor-x.log~",
        "a-stdout---supervisorx-x.log",
        "a b---supervisor-x y.log",
        "a-stdout---other-x.log",
        "plain.log",
    ]
    remaining = {}
    for who in ("stock", "ours"):
        d = tmp_path / who
        d.mkdir()
        for name in samples:
            (d / name).write_text("x")
        if who == "stock":
            cmd = [str(stock_python()), "-c", STOCK_CLEAN, str(d), "supervisor"]
            subprocess.run(cmd, check=True, timeout=60)
        else:
            clean_auto_logs(str(d), "supervisor")
        remaining[who] = sorted(p.name for p in d.iterdir())
    assert remaining["ours"] == remaining["stock"]
    assert len(remaining["ours"]) < len(samples)
