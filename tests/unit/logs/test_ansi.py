from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor_runtime.logs.ansi import MAX_HOLD, AnsiStripper, strip
from tests.stock import stock_python

COLOURED = b"\x1b[1;31mred\x1b[0m plain \x1b[38;5;208morange\x1b[m\n\x1b[2K\x1b[1Gdone\n"


def clean(data: bytes) -> bytes:
    return strip(data)[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"no escapes", b"no escapes"),
        (COLOURED, b"red plain orange\ndone\n"),
        (b"a\x1b[?25lb\x1b[?25hc", b"abc"),  # private-mode CSI
        (b"a\x1b[2;5rb", b"ab"),  # final byte outside stock's list
        (b"a\x1b]0;title\x07b", b"ab"),  # OSC ended by BEL
        (b"a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", b"alinkb"),  # OSC 8 ended by ST
        (b"a\x1bPq#0;2;0;0;0\x1b\\b", b"ab"),  # DCS
        (b"a\x1b(Bb", b"ab"),  # charset designation (nF)
        (b"a\x1b7b\x1b8c\x1b=d\x1bMe", b"abcde"),  # two-byte forms
        (b"a\x1b\nb", b"a\nb"),  # ESC before a control byte: only ESC goes
        (b"a\x1b[12\nb", b"a\nb"),  # CSI broken by a newline: newline kept
        (b"a\x1b", b"a"),  # lone ESC at the end of a final chunk
        (b"a\x1b[31", b"a"),  # unfinished CSI at the end of a final chunk
        (b"a\x1b]unterminated", b"aunterminated"),  # unfinished OSC: text kept
        (b"\xff\xfe\x1b[0m\xfd", b"\xff\xfe\xfd"),  # non-UTF-8 bytes untouched
    ],
)
def test_strip(raw: bytes, expected: bytes) -> None:
    assert clean(raw) == expected


def test_no_escape_returns_same_object() -> None:
    data = b"plain text\n"
    assert AnsiStripper().feed(data) is data


@pytest.mark.parametrize("cut", range(1, len(COLOURED)))
def test_sequence_split_across_feeds(cut: int) -> None:
    s = AnsiStripper()
    out = s.feed(COLOURED[:cut]) + s.feed(COLOURED[cut:]) + s.flush()
    assert out == b"red plain orange\ndone\n"


def test_byte_at_a_time() -> None:
    s = AnsiStripper()
    raw = COLOURED + b"\x1b]0;t\x1b\\x\x1b(By"
    out = b"".join(s.feed(raw[i : i + 1]) for i in range(len(raw))) + s.flush()
    assert out == b"red plain orange\ndone\nxy"


def test_held_back_tail_is_visible_and_flushed() -> None:
    s = AnsiStripper()
    assert s.feed(b"abc\x1b[3") == b"abc"
    assert s.pending == b"\x1b[3"
    assert s.feed(b"1mdef") == b"def"
    assert s.pending == b""
    assert s.feed(b"x\x1b]title") == b"x"
    assert s.flush() == b"title"
    assert s.flush() == b""


def test_unterminated_string_is_released_after_max_hold() -> None:
    s = AnsiStripper()
    text = b"y" * (MAX_HOLD + 10)
    out = s.feed(b"\x1b]" + text)
    assert out == text
    assert s.pending == b""


def test_many_unterminated_sequences_do_not_recurse() -> None:
    raw = (b"\x1b]" + b"z" * 10) * 20_000
    out, tail = strip(raw, final=False)
    assert len(out) + len(tail) <= len(raw)
    assert clean(raw) == b"z" * 10 * 20_000


@given(st.lists(st.binary(max_size=40), max_size=10))
def test_feeding_in_pieces_equals_stripping_whole(pieces: list[bytes]) -> None:
    s = AnsiStripper()
    joined = b"".join(pieces)
    out = b"".join(s.feed(p) for p in pieces) + s.flush()
    assert out == clean(joined)
    assert b"\x1b" not in out or b"\x1b" in joined


@pytest.mark.stock
def test_common_sequences_strip_like_stock() -> None:
    # Only sequences whose final byte is in stock's short list (HfABCDRsuJKhlpm): for any
    # other (e.g. ESC [1G) stock swallows text up to the next such letter.
    samples = [
        b"\x1b[1;31mred\x1b[0m plain \x1b[38;5;208morange\x1b[m\n\x1b[2Kdone\n",
        b"\x1b[32m[ OK ]\x1b[0m started\n",
        b"\x1b[1m\x1b[4mbold underline\x1b[0m\n",
        b"\x1b[2J\x1b[H\x1b[10;20Hcursor\x1b[K\n",
        b"\x1b[s\x1b[u\x1b[3A\x1b[2B\x1b[C\x1b[D?\x1b[?1049h\x1b[?1049l",
    ]
    code = (
        "import json, sys\n"
        "from supervisor.dispatchers import stripEscapes\n"
        "samples = [bytes.fromhex(h) for h in json.load(sys.stdin)]\n"
        "print(json.dumps([stripEscapes(s).hex() for s in samples]))\n"
    )
    result = subprocess.run(
        [str(stock_python()), "-c", code],
        input=json.dumps([s.hex() for s in samples]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = [bytes.fromhex(h) for h in json.loads(result.stdout)]
    ours = [clean(s) for s in samples]
    assert ours == theirs
