"""The HTTP request parser and limits, without sockets."""

from __future__ import annotations

import pytest

from supervisor_runtime.rpc.http import MAX_BODY, MAX_HEAD, HttpError, body_length, parse_head


def test_complete_head_with_headers() -> None:
    data = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    request, used = parse_head(data)
    assert request is not None
    assert (request.method, request.target, request.version) == ("POST", "/RPC2", (1, 1))
    assert request.header("content-length") == "5"
    assert data[used:] == b"hello"
    assert body_length(request) == 5


def test_incomplete_head_waits() -> None:
    assert parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n") == (None, 0)


def test_leading_blank_lines_are_skipped() -> None:
    # supervisorctl's tail client sends an extra CRLF after its request.
    request, used = parse_head(b"\r\n\r\nGET /a HTTP/1.1\r\n\r\n")
    assert request is not None and request.path == "/a"


def test_bare_lf_line_ends_are_accepted() -> None:
    request, _ = parse_head(b"GET /x?y=1 HTTP/1.0\nConnection: keep-alive\n\n")
    assert request is not None
    assert request.path == "/x" and request.query == "y=1" and request.keep_alive


@pytest.mark.parametrize(
    "line",
    [b"garbage\r\n", b"GET\r\n", b"GET / FTP/1.0\r\n", b"GET  / HTTP/1.1\r\n",
     b"\x00\x01\x02 / HTTP/1.1\r\n", b"GET http://x/ HTTP/1.1\r\n"],
)
def test_garbage_request_line_is_400_at_once(line: bytes) -> None:
    with pytest.raises(HttpError) as info:
        parse_head(line)  # no need to wait for the end of the head
    assert info.value.status == 400


def test_http2_version_is_505() -> None:
    with pytest.raises(HttpError) as info:
        parse_head(b"GET / HTTP/2.0\r\n\r\n")
    assert info.value.status == 505


@pytest.mark.parametrize(
    "header", [b"NoColon", b" folded: x", b"Bad Name: x", b"Content-Length: 1\r\nContent-Length: 2"]
)
def test_malformed_headers_are_400(header: bytes) -> None:
    with pytest.raises(HttpError) as info:
        parse_head(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\n")
    assert info.value.status == 400


def test_head_over_limit_is_431() -> None:
    big = b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * MAX_HEAD + b"\r\n"
    with pytest.raises(HttpError) as info:
        parse_head(big)
    assert info.value.status == 431


def test_body_limits() -> None:
    request, _ = parse_head(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    assert request is not None
    with pytest.raises(HttpError) as info:
        body_length(request)
    assert info.value.status == 413
    request, _ = parse_head(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
    with pytest.raises(HttpError):
        body_length(request)  # type: ignore[arg-type]
    request, _ = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(HttpError) as info:
        body_length(request)  # type: ignore[arg-type]
    assert info.value.status == 501


def test_keep_alive_rules() -> None:
    def keep(head: bytes) -> bool:
        request, _ = parse_head(head + b"\r\n")
        assert request is not None
        return request.keep_alive

    assert keep(b"GET / HTTP/1.1\r\n")
    assert not keep(b"GET / HTTP/1.1\r\nConnection: close\r\n")
    assert not keep(b"GET / HTTP/1.0\r\n")
    assert keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n")


def test_percent_decoded_path() -> None:
    request, _ = parse_head(b"GET /logtail/g%3Aname/stderr HTTP/1.1\r\n\r\n")
    assert request is not None and request.path == "/logtail/g:name/stderr"
