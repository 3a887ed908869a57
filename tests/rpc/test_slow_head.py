"""A request head dribbled a byte at a time is not re-parsed from its start each time."""

from __future__ import annotations

import pytest

from supervisor_runtime.rpc import http


def _bare_connection() -> http.Connection:
    conn = http.Connection.__new__(http.Connection)
    conn._input = bytearray()
    conn._head_scanned = 0
    conn._seen_newline = False
    conn._pending_request = None
    conn._pending_length = 0
    conn.peer = ""
    conn.kind = "unix_http_server"
    return conn


def test_dribbled_head_is_parsed_a_handful_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_parse = http.parse_head

    def counting(data: bytes | bytearray) -> tuple[http.Request | None, int]:
        nonlocal calls
        calls += 1
        return real_parse(data)

    monkeypatch.setattr(http, "parse_head", counting)
    conn = _bare_connection()
    head = b"POST /RPC2 HTTP/1.1\r\nX-Pad: " + b"a" * 20000 + b"\r\nContent-Length: 0\r\n\r\n"
    request = None
    for index in range(len(head)):
        conn._input += head[index : index + 1]
        request = conn._next_request()
        if request is not None:
            break
    assert request is not None and request.path == "/RPC2"
    # First byte, first newline, each later newline that may end the head, the end.
    assert calls <= 6, calls
