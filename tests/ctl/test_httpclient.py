"""supervisorctl's HTTP client (``ctl.httpclient``) and its XML-RPC layer (``ctl.client``).

A tiny server in a thread, on a unix socket and on 127.0.0.1, answers with canned raw
bytes chosen by each test and records the raw requests it received, so both what the
client sends and how it reads every framing of an answer are checked byte for byte.
"""

from __future__ import annotations

import errno
import socket
import threading
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_runtime.ctl import client
from supervisor_runtime.ctl.httpclient import (
    MAX_HEAD_LINE,
    MAX_HEADERS,
    BadResponse,
    Connection,
    RemoteDisconnected,
    ServerUnreachable,
    check_serverurl,
)
from supervisor_runtime.rpc import marshal

DEADLINE = 5.0  # seconds any one socket operation or wait may take before a test fails
HANG_UP = None  # a canned reply meaning "read the request, then close without answering"


class CannedServer:
    """Serves one connection at a time; on the n-th connection it answers the requests,
    in order, with ``conversations[n]`` and then closes that connection."""

    def __init__(self, listener: socket.socket, url: str, host_header: str) -> None:
        self.listener = listener
        self.url = url
        self.host_header = host_header
        self.conversations: list[list[bytes | None]] = []
        self.requests: list[list[bytes]] = []  # raw requests, per accepted connection
        self.accepts = 0
        self.errors: list[BaseException] = []
        self._finished = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self, *conversations: list[bytes | None]) -> CannedServer:
        self.conversations.extend(conversations)
        return self

    def wait_finished(self, count: int) -> None:
        """Until ``count`` connections have been answered and closed by the server."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._finished >= count, DEADLINE):
                raise AssertionError(f"the server finished {self._finished} of {count}")

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # the listener was shut down
            with conn:
                conn.settimeout(DEADLINE)
                index = self.accepts
                self.accepts += 1
                self.requests.append([])
                replies = self.conversations[index] if index < len(self.conversations) else []
                try:
                    self._converse(conn, index, replies)
                except Exception as exc:  # the test reports it through .errors
                    self.errors.append(exc)
            with self._changed:
                self._finished += 1
                self._changed.notify_all()

    def _converse(self, conn: socket.socket, index: int, replies: list[bytes | None]) -> None:
        buffered = b""
        for reply in replies:
            request, buffered = _read_request(conn, buffered)
            if request is None:
                return  # the client went away
            self.requests[index].append(request)
            if reply is HANG_UP:
                return
            conn.sendall(reply)

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        self._thread.join(DEADLINE)


def _read_request(conn: socket.socket, buffered: bytes) -> tuple[bytes | None, bytes]:
    """One request (head and Content-Length body) and what was read beyond it."""
    while b"\r\n\r\n" not in buffered:
        data = conn.recv(65536)
        if not data:
            return None, buffered
        buffered += data
    head, _, rest = buffered.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            break
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


@pytest.fixture(params=["unix", "tcp"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CannedServer]:
    if request.param == "unix":
        path = str(tmp_path / "s.sock")
        assert len(path) < 100, "unix socket path too long"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        url, host = f"unix://{path}", "localhost"
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        url, host = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
    listener.listen(8)
    canned = CannedServer(listener, url, host)
    yield canned
    canned.close()
    assert canned.errors == []


@pytest.fixture
def conn(server: CannedServer) -> Iterator[Connection]:
    connection = Connection(server.url, timeout=DEADLINE)
    yield connection
    connection.close()


def ok(body: bytes, *headers: str, version: str = "HTTP/1.1") -> bytes:
    """A 200 answer with a Content-Length body."""
    head = [f"{version} 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- framing


def test_content_length_body(server: CannedServer, conn: Connection) -> None:
    server.answer([ok(b"hello world", "Content-Type: text/plain", "X-Odd:  spaced  ")])
    response = conn.request("GET", "/x", {})
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers == {
        "Content-Length": "11",
        "Content-Type": "text/plain",
        "X-Odd": "spaced",
    }
    assert response.header("content-type") == "text/plain"
    assert response.read() == b"hello world"
    assert not response.will_close


def test_chunks_come_in_pieces_of_at_most_size(server: CannedServer, conn: Connection) -> None:
    server.answer([ok(b"0123456789")])
    pieces = list(conn.request("GET", "/", {}).chunks(size=4))
    assert b"".join(pieces) == b"0123456789"
    assert all(0 < len(piece) <= 4 for piece in pieces)


def test_empty_content_length_body(server: CannedServer, conn: Connection) -> None:
    server.answer([ok(b""), ok(b"second")])
    assert conn.request("GET", "/", {}).read() == b""
    assert conn.request("GET", "/", {}).read() == b"second"  # nothing was left unread


def test_chunked_body_with_extensions_and_trailers(server: CannedServer, conn: Connection) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"1\r\n \r\n"
        b"A ; quoted=\"x;y\"\r\n0123456789\r\n"
        b"1a\r\n" + b"z" * 26 + b"\r\n"
        b"0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n"
    )  # fmt: skip
    server.answer([chunked, ok(b"after")])
    response = conn.request("GET", "/", {})
    assert response.read() == b"hello 0123456789" + b"z" * 26
    assert not response.will_close
    # the trailers were consumed exactly: the next answer on the socket reads cleanly
    assert conn.request("GET", "/", {}).read() == b"after"
    assert server.accepts == 1


def test_chunked_body_read_in_small_pieces(server: CannedServer, conn: Connection) -> None:
    server.answer([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"7\r\nabcdefg\r\n3\r\nhij\r\n0\r\n\r\n"])  # fmt: skip
    pieces = list(conn.request("GET", "/", {}).chunks(size=2))
    assert b"".join(pieces) == b"abcdefghij"
    assert all(0 < len(piece) <= 2 for piece in pieces)


def test_http10_body_runs_to_the_close(server: CannedServer, conn: Connection) -> None:
    server.answer([b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil\r\nthe end"])
    response = conn.request("GET", "/", {})
    assert response.version == "HTTP/1.0"
    assert response.will_close
    assert response.read() == b"until\r\nthe end"


def test_http10_keep_alive_without_length_still_runs_to_the_close(
    server: CannedServer, conn: Connection
) -> None:
    server.answer([b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nall of it"])
    response = conn.request("GET", "/", {})
    assert response.will_close  # nothing else tells where the body ends
    assert response.read() == b"all of it"


def test_http11_without_length_runs_to_the_close(server: CannedServer, conn: Connection) -> None:
    server.answer([b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100_000])
    response = conn.request("GET", "/", {})
    assert response.will_close
    assert response.read() == b"x" * 100_000


@pytest.mark.parametrize(
    "headers, version, will_close",
    [
        ((), "HTTP/1.1", False),
        (("Connection: close",), "HTTP/1.1", True),
        (("Connection: Close",), "HTTP/1.1", True),
        (("Connection: keep-alive",), "HTTP/1.1", False),
        ((), "HTTP/1.0", True),
        (("Connection: keep-alive",), "HTTP/1.0", False),
    ],
)
def test_will_close(
    server: CannedServer,
    conn: Connection,
    headers: tuple[str, ...],
    version: str,
    will_close: bool,
) -> None:
    server.answer([ok(b"body", *headers, version=version)])
    response = conn.request("GET", "/", {})
    assert response.read() == b"body"
    assert response.will_close is will_close


def test_keep_alive_reuses_the_socket(server: CannedServer, conn: Connection) -> None:
    server.answer([ok(b"one"), ok(b"two")])
    assert conn.request("POST", "/RPC2", {"Content-Length": "1"}, b"a").read() == b"one"
    first_socket = conn.sock
    assert conn.request("POST", "/RPC2", {"Content-Length": "1"}, b"b").read() == b"two"
    assert conn.sock is first_socket
    assert server.accepts == 1
    assert [request[-1:] for request in server.requests[0]] == [b"a", b"b"]


# --------------------------------------------------------------------------- the request


def test_request_bytes(server: CannedServer, conn: Connection) -> None:
    server.answer([ok(b"")])
    body = b"<?xml version='1.0'?>\n<methodCall/>"
    headers = {"User-Agent": "test agent", "Content-Type": "text/xml",
               "Content-Length": str(len(body))}  # fmt: skip
    conn.request("POST", "/RPC2", headers, body).read()
    expected = (
        f"POST /RPC2 HTTP/1.1\r\nHost: {server.host_header}\r\nUser-Agent: test agent\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    assert server.requests == [[expected]]


def test_host_header(server: CannedServer) -> None:
    expected = "localhost" if server.url.startswith("unix://") else server.url[len("http://") :]
    assert server.host_header == expected  # what test_request_bytes checked on the wire
    assert Connection(server.url).host_header == expected


@pytest.mark.parametrize(
    "url, host_header",
    [
        ("http://127.0.0.1:9001", "127.0.0.1:9001"),
        ("http://localhost:9001/", "localhost:9001"),
        ("http://example.org", "example.org"),
        ("http://user:pw@example.org:80/RPC2", "example.org"),
        ("http://[::1]:9001", "[::1]:9001"),
        ("unix:///tmp/supervisor.sock", "localhost"),
    ],
)
def test_host_header_from_url(url: str, host_header: str) -> None:
    assert Connection(url).host_header == host_header


def test_get_without_body(server: CannedServer, conn: Connection) -> None:
    server.answer([ok(b"tail")])
    assert conn.request("GET", "/logtail/app", {"Accept": "*/*"}).read() == b"tail"
    host = server.host_header
    assert server.requests == [[f"GET /logtail/app HTTP/1.1\r\nHost: {host}\r\nAccept: */*"
                                 "\r\n\r\n".encode()]]  # fmt: skip


# --------------------------------------------------------------------------- failures


def test_close_without_answer_is_remote_disconnected(
    server: CannedServer, conn: Connection
) -> None:
    server.answer([HANG_UP])
    with pytest.raises(RemoteDisconnected):
        conn.request("GET", "/", {})
    assert len(server.requests[0]) == 1


@pytest.mark.parametrize(
    "reply",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"SMTP/1.1 200 OK\r\n\r\n",
        b"\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",  # closes inside the headers
    ],
)
def test_unreadable_heads_are_bad_responses(
    server: CannedServer, conn: Connection, reply: bytes
) -> None:
    server.answer([reply])
    with pytest.raises(BadResponse):
        conn.request("GET", "/", {})


def test_too_many_headers_is_a_bad_response(server: CannedServer, conn: Connection) -> None:
    server.answer([b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n"])
    with pytest.raises(BadResponse):
        conn.request("GET", "/", {})


def test_exactly_max_headers_are_read(server: CannedServer, conn: Connection) -> None:
    headers = [f"X-{i}: {i}" for i in range(MAX_HEADERS - 1)]  # with Content-Length: 100
    server.answer([ok(b"body", *headers)])
    response = conn.request("GET", "/", {})
    assert len(response.headers) == MAX_HEADERS
    assert response.read() == b"body"


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 " + b"O" * MAX_HEAD_LINE + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_HEAD_LINE + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"5;" + b"x" * MAX_HEAD_LINE + b"\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["status", "header", "chunk-size"],
)
def test_a_line_over_the_limit_is_a_bad_response(
    server: CannedServer, conn: Connection, reply: bytes
) -> None:
    # Read in 64 KiB pieces, the rest of such a line would pass for the next line.
    server.answer([reply])
    with pytest.raises(BadResponse, match="longer than"):
        conn.request("GET", "/", {}).read()


def test_reason_phrase_is_stripped(server: CannedServer, conn: Connection) -> None:
    server.answer([b"HTTP/1.1 200 All Fine  \r\nContent-Length: 0\r\n\r\n"])
    assert conn.request("GET", "/", {}).reason == "All Fine"


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["length-short", "length-none", "chunk-short", "no-last-chunk", "bad-chunk-size"],
)
def test_body_cut_short_is_a_bad_response(
    server: CannedServer, conn: Connection, reply: bytes
) -> None:
    server.answer([reply])
    response = conn.request("GET", "/", {})
    assert response.status == 200
    with pytest.raises(BadResponse):
        response.read()


@pytest.mark.parametrize(
    "reply",
    [b"HTTP/1.1 \xb2 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n"],
    ids=["status", "content-length"],
)
def test_non_ascii_digits_are_bad_responses(
    server: CannedServer, conn: Connection, reply: bytes
) -> None:
    server.answer([reply])
    with pytest.raises(BadResponse):
        conn.request("GET", "/", {})


def test_missing_socket_is_unreachable(tmp_path: Path) -> None:
    url = f"unix://{tmp_path / 'missing.sock'}"
    connection = Connection(url, timeout=DEADLINE)
    with pytest.raises(ServerUnreachable) as info:
        connection.open()
    error = info.value
    assert isinstance(error.cause, FileNotFoundError)
    assert error.cause.errno == errno.ENOENT
    assert error.errno == errno.ENOENT
    assert error.__cause__ is error.cause
    assert error.serverurl == url
    assert isinstance(error, OSError)
    assert connection.sock is None
    with pytest.raises(ServerUnreachable):  # request() opens on demand, with the same error
        connection.request("GET", "/", {})


def test_refused_tcp_port_is_unreachable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServerUnreachable) as info:
        Connection(f"http://127.0.0.1:{port}", timeout=DEADLINE).open()
    assert info.value.errno == errno.ECONNREFUSED
    assert isinstance(info.value.cause, ConnectionRefusedError)


@pytest.mark.parametrize("url", ["ftp://x", "https://127.0.0.1", "/tmp/s.sock", ""])
def test_unknown_protocols_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_serverurl(url)
    with pytest.raises(ValueError):
        Connection(url)
    with pytest.raises(ValueError):
        client.connect(url)


def test_good_urls_are_accepted() -> None:
    check_serverurl("unix:///tmp/supervisor.sock")
    check_serverurl("http://127.0.0.1:9001")


# --------------------------------------------------------------------------- ctl.client


def rpc_ok(value: object, *headers: str) -> bytes:
    return ok(marshal.encode_response(value), "Content-Type: text/xml", *headers)


STATE = {"statecode": 1, "statename": "RUNNING"}


def test_client_get_state(server: CannedServer) -> None:
    server.answer([rpc_ok(STATE)])
    with client.connect(server.url, timeout=DEADLINE) as proxy:
        assert proxy.supervisor.getState() == STATE
    (request,) = server.requests[0]
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /RPC2 HTTP/1.1"
    assert f"Host: {server.host_header}" in lines
    assert "Content-Type: text/xml" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert not any(line.startswith("Authorization:") for line in lines)
    assert marshal.decode_call(body) == ("supervisor.getState", ())
    assert xmlrpc.client.loads(body) == ((), "supervisor.getState")


def test_client_sends_params_and_credentials(server: CannedServer) -> None:
    server.answer([rpc_ok(True)])
    proxy = client.connect(server.url, "user", "p&ss:w", timeout=DEADLINE)
    try:
        assert proxy.supervisor.startProcess("web:app <1>", False) is True
    finally:
        proxy.close()
    head, _, body = server.requests[0][0].partition(b"\r\n\r\n")
    assert b"\r\nAuthorization: Basic dXNlcjpwJnNzOnc=\r\n" in head + b"\r\n"
    assert marshal.decode_call(body) == ("supervisor.startProcess", ("web:app <1>", False))


def test_client_keeps_the_connection_alive(server: CannedServer) -> None:
    server.answer([rpc_ok(STATE), rpc_ok(["a", "b"])])
    with client.connect(server.url, timeout=DEADLINE) as proxy:
        assert proxy.supervisor.getState() == STATE
        assert proxy.system.listMethods() == ["a", "b"]
    assert server.accepts == 1


def test_client_401_is_a_protocol_error(server: CannedServer) -> None:
    server.answer([b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n"
                   b"WWW-Authenticate: Basic realm=\"default\"\r\n\r\nUnauthorized"])  # fmt: skip
    with (
        client.connect(server.url, timeout=DEADLINE) as proxy,
        pytest.raises(xmlrpc.client.ProtocolError) as info,
    ):
        proxy.supervisor.getState()
    error = info.value
    assert error.errcode == 401
    assert error.errmsg == "Unauthorized"
    assert error.url == "127.0.0.1/RPC2"
    assert error.headers["WWW-Authenticate"] == 'Basic realm="default"'


def test_client_fault(server: CannedServer) -> None:
    server.answer([ok(marshal.encode_fault(10, "BAD_NAME: nosuch"))])
    with (
        client.connect(server.url, timeout=DEADLINE) as proxy,
        pytest.raises(xmlrpc.client.Fault) as info,
    ):
        proxy.supervisor.startProcess("nosuch")
    assert (info.value.faultCode, info.value.faultString) == (10, "BAD_NAME: nosuch")


def test_client_stdlib_fault_body(server: CannedServer) -> None:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(70, "NOT_RUNNING"), methodresponse=True)
    server.answer([ok(body.encode())])
    with client.connect(server.url, timeout=DEADLINE) as proxy, pytest.raises(client.Fault) as info:
        proxy.supervisor.stopProcess("app")
    assert info.value.faultCode == 70


def test_client_retries_once_when_a_kept_alive_connection_was_closed(
    server: CannedServer,
) -> None:
    server.answer([rpc_ok(STATE)], [rpc_ok("second")])
    with client.connect(server.url, timeout=DEADLINE) as proxy:
        assert proxy.supervisor.getState() == STATE
        server.wait_finished(1)  # the server has closed the idle connection
        assert proxy.supervisor.getPID() == "second"
    assert server.accepts == 2
    assert len(server.requests[1]) == 1
    assert marshal.decode_call(server.requests[1][0].partition(b"\r\n\r\n")[2]) == (
        "supervisor.getPID",
        (),
    )


def test_client_retries_only_once(server: CannedServer) -> None:
    server.answer([rpc_ok(STATE)], [HANG_UP], [rpc_ok("never asked")])
    with client.connect(server.url, timeout=DEADLINE) as proxy:
        assert proxy.supervisor.getState() == STATE
        server.wait_finished(1)
        with pytest.raises(RemoteDisconnected):
            proxy.supervisor.getPID()
    assert server.accepts == 2


def test_client_does_not_retry_a_fresh_connection(server: CannedServer) -> None:
    server.answer([HANG_UP], [rpc_ok("never asked")])
    with client.connect(server.url, timeout=DEADLINE) as proxy, pytest.raises(RemoteDisconnected):
        proxy.supervisor.getState()
    server.wait_finished(1)
    assert server.accepts == 1


def test_client_reconnects_after_connection_close(server: CannedServer) -> None:
    server.answer([rpc_ok(1, "Connection: close")], [rpc_ok(2)])
    with client.connect(server.url, timeout=DEADLINE) as proxy:
        assert proxy.supervisor.getPID() == 1
        assert proxy.supervisor.getPID() == 2
    assert server.accepts == 2


def test_client_unreachable(tmp_path: Path) -> None:
    proxy = client.connect(f"unix://{tmp_path / 'missing.sock'}", timeout=DEADLINE)
    with pytest.raises(client.ServerUnreachable) as info:
        proxy.supervisor.getState()
    assert info.value.errno == errno.ENOENT


def test_client_exceptions_are_the_stdlib_ones() -> None:
    assert client.Fault is xmlrpc.client.Fault
    assert client.ProtocolError is xmlrpc.client.ProtocolError
    with pytest.raises(AttributeError):
        client.NoSuchThing  # noqa: B018


def test_log_stream_reads_until_the_server_ends(server: CannedServer) -> None:
    server.answer([b"HTTP/1.1 200 OK\r\n\r\nline one\nline two\n"])
    stream = client.LogStream(server.url, "/logtail/app")
    assert b"".join(stream.chunks()) == b"line one\nline two\n"
    assert server.requests[0][0].startswith(b"GET /logtail/app HTTP/1.1\r\n")


def test_a_log_stream_closed_before_reading_never_connects(server: CannedServer) -> None:
    stream = client.LogStream(server.url, "/logtail/app")
    stream.close()  # fg's other thread may close it before the reader starts
    assert list(stream.chunks()) == []
    assert server.accepts == 0
