"""workers.state_lines: what a tenant runtime's state stream may send, and what is kept.
Small unit tests: the stream is bytes from a hostile tenant."""

from __future__ import annotations

import json
import socket

import pytest

from workers.state_lines import (
    MAX_LINE,
    BadLine,
    Ended,
    LineBuffer,
    Refused,
    StreamReader,
    parse_head,
    parse_line,
)


def test_lines_are_cut_and_a_huge_one_is_refused() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert buffer.feed(b":2}\n") == [b'{"b":2}']
    with pytest.raises(BadLine, match="a line over 1048576 bytes"):
        buffer.feed(b"x" * (MAX_LINE + 1))
    with pytest.raises(BadLine, match="a line over"):
        LineBuffer().feed(b"y" * (MAX_LINE + 1) + b"\n")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\x00garbage", "not JSON"),
        (b"[1, 2]", "not a typed object"),
        (b'{"type": "snapshot", "processes": {}}', "without a list of processes"),
        (b'{"type": "snapshot", "processes": [{"name": 1}]}', "without a text name"),
        (b'{"type": "process", "process": "x"}', "not an object"),
        (
            b'{"type": "process", "process": {"name": "a", "group": "a", "statename": "RUNNING"},'
            b' "transition": {"to": "X"}}',
            "a transition without a time",
        ),
        (b"[" * 100000, "not JSON"),
    ],
)
def test_garbage_is_refused_naming_what_is_wrong(raw: bytes, why: str) -> None:
    with pytest.raises(BadLine, match=why):
        parse_line(raw)


def test_only_known_fields_of_known_types_are_kept() -> None:
    process = {
        "name": "app",
        "group": "app",
        "statename": "RUNNING",
        "pid": 7,
        "evil": "x" * 100,
        "description": ["not", "text"],
        "start": 1.5,
    }
    transition = {
        "time": 2.0,
        "to": "RUNNING",
        "reason": "started",
        "log_tail": "z" * 20000,
        "extra": 1,
        "requester": {"via": "unix", "uid": 0, "nested": {"a": 1}},
    }
    line = parse_line(
        json.dumps({"type": "process", "process": process, "transition": transition}).encode()
    )
    assert line["process"] == {
        "name": "app",
        "group": "app",
        "statename": "RUNNING",
        "pid": 7,
        "start": 1.5,
    }
    kept = line["transition"]
    assert set(kept) == {"time", "to", "reason", "log_tail", "requester"}
    assert len(kept["log_tail"]) == 8192
    assert kept["requester"] == {"via": "unix", "uid": 0}
    assert parse_line(b'{"type": "later"}') == {"type": "other"}


def test_the_head_is_an_http_status() -> None:
    assert parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n") is None
    assert parse_head(b"HTTP/1.1 404 Not Found\r\n\r\nbody") == (404, b"body")
    with pytest.raises(BadLine, match="not an HTTP response"):
        parse_head(b"SSH-2.0\r\n\r\n")


def test_the_stream_reader_reads_the_head_then_lines_over_a_real_socket() -> None:
    """StreamReader, the one reading end of every stream the feeder follows."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    reader = StreamReader(ours)
    assert list(reader.read()) == []  # nothing sent yet: not an end
    theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson")
    assert list(reader.read()) == [] and not reader.streaming
    theirs.sendall(b'\r\n\r\n{"type": "ping"}\n{"type": "pi')
    assert list(reader.read()) == [{"type": "ping"}] and reader.streaming
    theirs.sendall(b'ng"}\n\x00garbage\n')
    lines = reader.read()
    assert next(lines) == {"type": "ping"}  # what came before a bad line is still given
    with pytest.raises(BadLine, match="not JSON"):
        next(lines)
    theirs.close()
    with pytest.raises(Ended) as ended:
        reader.read()
    assert ended.value.error is None  # closed by the other side, not a socket error
    ours.close()


def test_a_status_other_than_200_is_refused_before_its_body_is_read() -> None:
    ours, theirs = socket.socketpair()
    theirs.sendall(b"HTTP/1.1 404 Not Found\r\n\r\n<html>not json</html>\n")
    with pytest.raises(Refused, match="HTTP 404 for the state stream") as refused:
        StreamReader(ours).read()
    assert refused.value.status == 404
    ours.close()
    theirs.close()
