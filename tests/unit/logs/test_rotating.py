from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_runtime.logs.rotating import LogRotationError, RotatingFile, write_all


def chain(path: Path, backups: int) -> list[bytes]:
    """Contents of path.N ... path.1, path: oldest first."""
    out = []
    for index in range(backups, 0, -1):
        backup = Path(f"{path}.{index}")
        if backup.exists():
            out.append(backup.read_bytes())
    out.append(path.read_bytes())
    return out


def sizes(path: Path, backups: int) -> list[int]:
    return [len(b) for b in chain(path, backups)]


def test_creates_file_with_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with RotatingFile(str(tmp_path / "a.log"), 100, 2) as f:
            assert f.size == 0 and not f.special
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.log").stat().st_mode) == 0o644


def test_appends_to_existing_file_and_counts_its_size(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"x" * 7)
    with RotatingFile(str(path), 10, 1) as f:
        assert f.size == 7
        f.write(b"abcde")
    assert Path(f"{path}.1").read_bytes() == b"x" * 7 + b"abc"
    assert path.read_bytes() == b"de"


def test_a_full_file_stays_current_until_the_next_byte(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 10, 3) as f:
        f.write(b"0123456789")
        assert f.size == 10
        assert not Path(f"{path}.1").exists()
        f.write(b"X")
    assert chain(path, 3) == [b"0123456789", b"X"]


def test_one_byte_over_goes_into_next_file(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 10, 3) as f:
        f.write(b"0123456789X")
    assert chain(path, 3) == [b"0123456789", b"X"]


def test_write_of_three_and_a_half_times_maxbytes_spans_files(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    data = bytes(range(35))
    with RotatingFile(str(path), 10, 5) as f:
        f.write(data)
    assert sizes(path, 5) == [10, 10, 10, 5]
    assert b"".join(chain(path, 5)) == data


def test_backups_shift_and_oldest_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 4, 2) as f:
        for chunk in (b"aaaa", b"bbbb", b"cccc", b"dd"):
            f.write(chunk)
    assert Path(f"{path}.2").read_bytes() == b"bbbb"
    assert Path(f"{path}.1").read_bytes() == b"cccc"
    assert path.read_bytes() == b"dd"
    assert not Path(f"{path}.3").exists()


def test_backups_zero_truncates_in_place(tmp_path: Path) -> None:
    # Stock reopens the same path with "wb" when the file is full and backups=0.
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 4, 0) as f:
        f.write(b"abc")
        assert path.read_bytes() == b"abc"
        f.write(b"defghi")  # abc+d fills it, efgh fills it again, i remains
    assert path.read_bytes() == b"i"
    assert list(tmp_path.iterdir()) == [path]


def test_maxbytes_zero_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 0, 3) as f:
        for _ in range(100):
            f.write(b"x" * 1000)
        assert f.size == 100_000
    assert path.stat().st_size == 100_000
    assert list(tmp_path.iterdir()) == [path]


def test_backup_missing_in_the_middle_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 2, 3) as f:
        f.write(b"aabbcc")  # .2=aa .1=bb path=cc
        os.remove(f"{path}.1")
        f.write(b"dd")  # .2 -> .3, the missing .1 is skipped, path -> .1
    assert chain(path, 3) == [b"aa", b"cc", b"dd"]
    assert not Path(f"{path}.2").exists()


def test_rejects_negative_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="maxbytes must be >= 0"):
        RotatingFile(str(tmp_path / "a"), -1, 1)
    with pytest.raises(ValueError, match="backups must be >= 0"):
        RotatingFile(str(tmp_path / "a"), 1, -1)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "a.log"
    with pytest.raises(FileNotFoundError, match="directory .*nope.* does not exist") as info:
        RotatingFile(str(target), 10, 1)
    assert info.value.filename == str(target)


def test_write_after_close_names_the_file(tmp_path: Path) -> None:
    f = RotatingFile(str(tmp_path / "a.log"), 10, 1)
    f.close()
    f.close()  # idempotent
    with pytest.raises(ValueError, match="closed log file .*a.log"):
        f.write(b"x")


def test_external_rename_keeps_writing_to_old_file_until_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    moved = tmp_path / "a.log.moved"
    with RotatingFile(str(path), 1000, 1) as f:
        f.write(b"before\n")
        os.rename(path, moved)
        f.write(b"still old\n")
        assert not path.exists()
        f.reopen()
        f.write(b"new\n")
    assert moved.read_bytes() == b"before\nstill old\n"
    assert path.read_bytes() == b"new\n"


def test_reopen_picks_up_size_of_file_at_path(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 10, 1) as f:
        f.write(b"abc")
        path.write_bytes(b"123456789")
        f.reopen()
        assert f.size == 9
        f.write(b"xy")
    assert Path(f"{path}.1").read_bytes() == b"123456789x"
    assert path.read_bytes() == b"y"


def test_clear_truncates_and_keeps_backups(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 4, 2) as f:
        f.write(b"aaaabb")
        f.clear()
        assert f.size == 0
        assert path.read_bytes() == b""
        f.write(b"c")
    assert path.read_bytes() == b"c"
    assert Path(f"{path}.1").read_bytes() == b"aaaa"


def test_clear_recreates_a_removed_file(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with RotatingFile(str(path), 4, 2) as f:
        f.write(b"ab")
        path.unlink()
        f.clear()
        f.write(b"z")
    assert path.read_bytes() == b"z"


def test_failed_rotation_keeps_every_byte_and_reports(tmp_path: Path) -> None:
    logdir = tmp_path / "d"
    logdir.mkdir()
    path = logdir / "a.log"
    # A directory in the way of path.1 makes the rename fail (EISDIR / ENOTEMPTY).
    (logdir / "a.log.1").mkdir()
    (logdir / "a.log.1" / "keep").write_text("x")
    f = RotatingFile(str(path), 4, 1)
    with pytest.raises(LogRotationError, match="cannot rotate log file .*a.log"):
        f.write(b"abcdef")
    assert path.read_bytes() == b"abcdef"
    f.close()


def test_dev_null_is_special_and_never_rotates(tmp_path: Path) -> None:
    with RotatingFile("/dev/null", 1, 1) as f:
        assert f.special
        f.write(b"x" * 100)
        f.clear()
        f.reopen()
        f.write(b"y")
        assert f.size == 0


def test_fifo_target(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as r:
            received.append(r.read())

    thread = threading.Thread(target=reader)
    thread.start()
    # A writer of our own for the whole test: while reopen() has the fifo closed, the
    # reader must not see end-of-file (then nobody would read, and reopen would block).
    keep_open = os.open(fifo, os.O_WRONLY)
    payload = b"0123456789" * 20_000  # bigger than the pipe buffer: partial writes
    with RotatingFile(str(fifo), 10, 2) as f:
        assert f.special
        f.write(payload)
        f.clear()
        f.reopen()
        f.write(b"end")
    os.close(keep_open)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert received == [payload + b"end"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_pipe_via_dev_fd_and_nonblocking_writer(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    received = bytearray()
    done = threading.Event()

    def reader() -> None:
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            received.extend(chunk)
        done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    payload = os.urandom(300_000)
    f = RotatingFile(f"/dev/fd/{write_fd}", 1000, 1)
    os.close(write_fd)
    try:
        assert f.special
        f.write(payload)
    finally:
        f.close()
    assert done.wait(10)
    thread.join()
    os.close(read_fd)
    assert bytes(received) == payload


def test_dev_stdout_target(tmp_path: Path) -> None:
    # Whatever stdout is under pytest (a pipe, a tty, a file), this must not seek.
    with RotatingFile("/dev/stdout", 5, 1) as f:
        assert f.special
        f.write(b"")
        f.write(b"rotating-file test line\n")
        f.clear()


def test_dev_stdout_redirected_to_regular_file_is_not_rotated(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        fd = sink.fileno()
        with RotatingFile(f"/proc/self/fd/{fd}", 5, 1) as f:
            assert f.special
            f.write(b"0123456789")
    assert out.read_bytes() == b"0123456789"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_all_handles_short_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    written = bytearray()
    calls = []

    def fake_write(fd: int, data: memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 2:
            raise BlockingIOError
        n = min(3, len(data))
        written.extend(bytes(data[:n]))
        return n

    monkeypatch.setattr(os, "write", fake_write)
    monkeypatch.setattr("select.select", lambda r, w, x, t: (r, w, x))
    write_all(99, b"abcdefgh")
    assert bytes(written) == b"abcdefgh"


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    maxbytes=st.integers(min_value=1, max_value=64),
    backups=st.integers(min_value=0, max_value=4),
    writes=st.lists(st.integers(min_value=0, max_value=200), max_size=25),
    existing=st.integers(min_value=0, max_value=100),
)
def test_rotation_invariant(
    tmp_path_factory: pytest.TempPathFactory,
    maxbytes: int,
    backups: int,
    writes: list[int],
    existing: int,
) -> None:
    path = tmp_path_factory.mktemp("rot") / "a.log"
    path.write_bytes(b"E" * existing)
    stream = bytearray(b"E" * existing)
    counter = 0
    with RotatingFile(str(path), maxbytes, backups) as f:
        for size in writes:
            data = bytes((counter + i) % 251 for i in range(size))
            counter += size
            f.write(data)
            stream.extend(data)
    files = chain(path, backups)
    retained = b"".join(files)
    # A pre-existing file over maxbytes is rotated whole before the first write: the only
    # file allowed over the limit is that untouched backup.
    oversized_ok = {b"E" * existing} if existing > maxbytes else set()
    assert all(len(b) <= maxbytes or b in oversized_ok for b in files)
    # No byte lost inside the retained window: the files, in order, are exactly the
    # newest bytes written.
    assert stream.endswith(retained)
    # Every backup is full; only the live file may be partly filled.
    if len(stream) > existing:
        assert 0 < len(files[-1]) <= maxbytes
        assert all(len(b) == maxbytes or b in oversized_ok for b in files[:-1])
        expected_window = min(len(stream), backups * maxbytes + len(files[-1]))
        if existing <= maxbytes:
            assert len(retained) == expected_window
    extra = [p for p in path.parent.iterdir() if p.name not in _names(path, backups)]
    assert extra == []


def _names(path: Path, backups: int) -> set[str]:
    return {path.name} | {f"{path.name}.{i}" for i in range(1, backups + 1)}
