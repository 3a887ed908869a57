from __future__ import annotations

import io
import re
import subprocess
import time
from pathlib import Path

import pytest

from supervisor_runtime.config.model import LOG_LEVELS
from supervisor_runtime.logs.mainlog import LEVEL_NAMES, MainLog
from tests.stock import stock_python

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{4} .*$")


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def local(ts: str) -> float:
    return time.mktime(time.strptime(ts, "%Y-%m-%d %H:%M:%S"))


def test_line_format_matches_stock(tmp_path: Path) -> None:
    path = tmp_path / "supervisord.log"
    clock = FakeClock(local("2026-11-22 02:34:00") + 0.1239)
    log = MainLog(str(path), clock=clock)
    log.info("spawned: 'app' with pid 12")
    clock.now += 0.8765  # 2026-11-22 02:34:01,000.4 -> truncated to ,000
    log.warn("x")
    log.close()
    assert path.read_text() == (
        "2026-11-22 02:34:00,123 INFO spawned: 'app' with pid 12\n2026-11-22 02:34:01,000 WARN x\n"
    )


def test_level_names_and_methods(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = MainLog(str(path), level=LOG_LEVELS["blather"])
    for name in ("critical", "error", "warn", "info", "debug", "trace", "blather"):
        getattr(log, name)(name)
    log.close()
    lines = path.read_text().splitlines()
    assert [line.split(" ", 3)[2:] for line in lines] == [
        ["CRIT", "critical"],
        ["ERRO", "error"],
        ["WARN", "warn"],
        ["INFO", "info"],
        ["DEBG", "debug"],
        ["TRAC", "trace"],
        ["BLAT", "blather"],
    ]
    assert all(LINE.match(line) for line in lines)
    assert set(LEVEL_NAMES) == set(LOG_LEVELS.values())


def test_filtering_by_level(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = MainLog(str(path), level=LOG_LEVELS["warn"])
    assert log.is_enabled(LOG_LEVELS["error"])
    assert log.is_enabled(LOG_LEVELS["warn"])
    assert not log.is_enabled(LOG_LEVELS["info"])
    log.info("hidden")
    log.debug("hidden")
    log.error("shown")
    log.log(LOG_LEVELS["critical"], "also shown")
    log.close()
    text = path.read_text()
    assert "hidden" not in text
    assert " ERRO shown\n" in text and " CRIT also shown\n" in text


def test_multiline_message_written_as_is(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = MainLog(str(path), level=LOG_LEVELS["debug"])
    log.debug("'app' stdout output:\nhello\nworld")
    log.close()
    assert path.read_text().endswith(" DEBG 'app' stdout output:\nhello\nworld\n")


def test_echo_goes_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = MainLog(str(tmp_path / "m.log"), echo=True)
    log.info("to both")
    log.close()
    out, err = capsys.readouterr()
    assert out.endswith(" INFO to both\n") and err == ""
    assert (tmp_path / "m.log").read_text() == out


def test_echo_only_without_file() -> None:
    stream = io.StringIO()
    log = MainLog(None, echo=True, echo_stream=stream)
    log.info("hi")
    assert stream.getvalue().endswith(" INFO hi\n")


def test_rotation_never_exceeds_maxbytes(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = MainLog(str(path), maxbytes=200, backups=3)
    for i in range(100):
        log.info(f"message number {i}")
    log.close()
    files = [path] + [Path(f"{path}.{i}") for i in (1, 2, 3)]
    assert all(f.stat().st_size <= 200 for f in files)
    joined = b"".join(f.read_bytes() for f in reversed(files)).decode()
    assert joined.endswith("message number 99\n")
    assert not Path(f"{path}.4").exists()


def test_maxbytes_zero_keeps_growing(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = MainLog(str(path), maxbytes=0, backups=3)
    for i in range(50):
        log.info(f"message {i}")
    log.close()
    assert len(path.read_text().splitlines()) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.log"]


def test_buffer_then_set_target(tmp_path: Path) -> None:
    clock = FakeClock(local("2026-01-01 00:00:00"))
    log = MainLog(buffer=True, clock=clock)
    assert log.buffering and log.is_enabled(LOG_LEVELS["blather"])
    log.warn("early warning")
    clock.now += 1
    log.debug("early debug")
    log.info("early info")
    path = tmp_path / "m.log"
    log.set_target(str(path), maxbytes=1000, backups=1, level=LOG_LEVELS["info"])
    assert not log.buffering
    log.info("later")
    log.debug("filtered now")
    log.close()
    assert path.read_text() == (
        "2026-01-01 00:00:00,000 WARN early warning\n"
        "2026-01-01 00:00:01,000 INFO early info\n"
        "2026-01-01 00:00:01,000 INFO later\n"
    )


def test_buffer_kept_when_target_fails(tmp_path: Path) -> None:
    log = MainLog(buffer=True)
    log.info("kept")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        log.set_target(str(tmp_path / "missing" / "m.log"))
    assert log.buffering
    log.set_target(str(tmp_path / "m.log"))
    log.close()
    assert (tmp_path / "m.log").read_text().endswith(" INFO kept\n")


def test_syslog_target_one_message_per_line() -> None:
    sent: list[str] = []
    clock = FakeClock(local("2026-01-01 00:00:00") + 0.5)
    log = MainLog("syslog", clock=clock, syslog_emit=sent.append)
    log.info("one\ntwo\n")
    log.warn("three")
    log.reopen()
    log.clear()
    log.close()
    assert sent == [
        "2026-01-01 00:00:00,500 INFO one",
        "2026-01-01 00:00:00,500 INFO two",
        "2026-01-01 00:00:00,500 WARN three",
    ]


def test_reopen_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = MainLog(str(path))
    log.info("first")
    path.rename(tmp_path / "m.log.old")
    log.reopen()
    log.info("second")
    assert "second" in path.read_text() and "first" not in path.read_text()
    log.clear()
    assert path.read_text() == ""
    log.info("third")
    log.close()
    assert path.read_text().endswith(" INFO third\n")


def test_write_errors_are_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full missing")
    log = MainLog("/dev/full")
    log.info("lost")
    log.close()
    assert "cannot write main log '/dev/full'" in capsys.readouterr().err


@pytest.mark.stock
def test_same_bytes_as_stock_logger(tmp_path: Path) -> None:
    when = local("2026-11-22 02:34:00") + 0.0429
    messages = ["spawned: 'app' with pid 12", "multi\nline", "caf\u00e9"]
    code = (
        "import sys, time\n"
        "from supervisor import loggers\n"
        f"time.time = lambda: {when!r}\n"
        "log = loggers.getLogger(loggers.LevelsByName.BLAT)\n"
        "loggers.handle_file(log, sys.argv[1], '%(asctime)s %(levelname)s %(message)s\\n',\n"
        "                    rotating=True, maxbytes=10**6, backups=2)\n"
        f"for m in {messages!r}:\n"
        "    for name in ('critical','error','warn','info','debug','trace','blather'):\n"
        "        getattr(log, name)(m)\n"
        "log.close()\n"
    )
    stock_file = tmp_path / "stock.log"
    subprocess.run([str(stock_python()), "-c", code, str(stock_file)], check=True, timeout=60)
    ours_file = tmp_path / "ours.log"
    log = MainLog(str(ours_file), 10**6, 2, level=LOG_LEVELS["blather"], clock=lambda: when)
    for m in messages:
        for name in ("critical", "error", "warn", "info", "debug", "trace", "blather"):
            getattr(log, name)(m)
    log.close()
    assert ours_file.read_bytes() == stock_file.read_bytes()
