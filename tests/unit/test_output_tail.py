"""The in-memory output tail kept for the restart history (output_tail.py): bounded per
channel whatever is written, lines in the order they were read across stdout and stderr,
a line cut by the bound is dropped rather than shown half, escape sequences removed, at most
MAX_TEXT characters, and a live upgrade's hand-over round trip."""

from __future__ import annotations

from supervisor_runtime.output_tail import MAX_TEXT, TAIL_BYTES, OutputTail
from supervisor_runtime.upgrade.handover import decode_bytes, encode_bytes


def kept_bytes(tail: OutputTail) -> int:
    return sum(len(piece) for _, piece in tail._pieces)


def test_lines_keep_their_order_across_channels_and_partial_writes() -> None:
    tail = OutputTail()
    tail.feed("stdout", b"starting\nlistening on :80")
    tail.feed("stderr", b"Traceback (most recent call last):\n  File")
    tail.feed("stdout", memoryview(b"\nready\n"))
    tail.feed("stderr", b' "app.py"\nValueError: bad\n')
    assert tail.lines() == [
        "starting",
        "Traceback (most recent call last):",
        "listening on :80",
        "ready",
        '  File "app.py"',
        "ValueError: bad",
    ]
    assert tail.text(2) == '  File "app.py"\nValueError: bad'
    assert tail.text(0) == ""


def test_memory_stays_bounded_and_a_cut_line_is_dropped() -> None:
    tail = OutputTail()
    for n in range(20_000):  # 20,000 reads, about 400 KB per channel
        tail.feed("stdout", f"out {n:06d} {'x' * 8}\n".encode())
        tail.feed("stderr", f"err {n:06d}\n".encode())
        assert kept_bytes(tail) <= 2 * TAIL_BYTES
    lines = tail.lines()
    assert lines[-2:] == [f"out 019999 {'x' * 8}", "err 019999"]
    assert all(line.startswith(("out ", "err ")) for line in lines)  # no half line
    one_read = b"y" * 100 + b"\n" + b"z" * (3 * TAIL_BYTES) + b"\nlast words\n"
    tail.clear()
    tail.feed("stderr", one_read)
    assert kept_bytes(tail) == TAIL_BYTES
    assert tail.lines() == ["last words"]  # the z line lost its start: not shown


def test_a_bound_that_falls_on_a_newline_keeps_the_whole_line() -> None:
    tail = OutputTail()
    line = b"a" * 15 + b"\n"  # 16 bytes: TAIL_BYTES is a whole number of them
    for _ in range(TAIL_BYTES // len(line) + 5):
        tail.feed("stdout", line)
    assert len(tail.lines()) == TAIL_BYTES // len(line)


def test_escapes_and_control_characters_are_removed() -> None:
    tail = OutputTail()
    tail.feed("stderr", b"\x1b[31merror\x1b[0m: \x07bell\r\n\x1b]0;title\x07tab\there\n\xff\n")
    assert tail.lines() == ["error: bell", "tab\there", "\ufffd"]


def test_text_is_at_most_max_text_characters_of_whole_lines() -> None:
    tail = OutputTail()
    for n in range(10):
        tail.feed("stdout", f"{n}{'w' * 999}\n".encode())
        tail.feed("stderr", f"{n}{'e' * 999}\n".encode())
    text = tail.text(20)
    assert len(text) <= MAX_TEXT
    assert text.endswith("9" + "e" * 999)
    assert all(len(line) == 1000 for line in text.split("\n"))


def test_handover_round_trip() -> None:
    tail = OutputTail()
    tail.feed("stdout", b"x" * (TAIL_BYTES + 10) + b"\nfirst\n")
    tail.feed("stderr", b"second\npartial")
    saved = tail.handover(encode_bytes)
    again = OutputTail()
    again.take_over(saved, decode_bytes)
    assert again.lines() == tail.lines() == ["first", "second", "partial"]
    again.feed("stderr", b" line\n")
    assert again.lines()[-1] == "partial line"
