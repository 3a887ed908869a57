"""The HTTP server on a real EventLoop (in a thread) and real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_runtime.loop import EventLoop
from supervisor_runtime.rpc.http import MAX_BODY, HttpServer, Request, Responder

BIG = b"x" * (8 * 1024 * 1024)


def handler(loop: EventLoop):
    def handle(request: Request, responder: Responder) -> None:
        if request.path == "/echo":
            responder.respond(200, request.body or request.target.encode(), "text/plain")
        elif request.path == "/wait":
            loop.call_later(0.3, lambda: responder.respond(200, b"waited", "text/plain"))
        elif request.path == "/big":
            responder.respond(200, BIG, "application/octet-stream")
        elif request.path == "/stream":
            responder.start_stream(200, [("Content-Type", "text/plain")])
            responder.write(b"one")
            responder.write(b"two")
            responder.finish()
        else:
            responder.error(404)

    return handle


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "http.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen(64)
    loop = EventLoop()
    http = HttpServer(loop, sock, "unix_http_server", handler(loop))
    running = [True]

    def run() -> None:
        while running[0]:
            loop.run_once(max_wait=0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield path
    running[0] = False
    thread.join(5)
    http.close()
    loop.close()
    sock.close()


def connect(path: str) -> socket.socket:
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(5)
    client.connect(path)
    return client


def read_responses(client: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """(status line, body) of `count` Content-Length responses."""
    data = b""
    out = []
    while len(out) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end != -1:
            head = data[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            if len(data) >= head_end + 4 + length:
                out.append((head.split(b"\r\n")[0], data[head_end + 4 : head_end + 4 + length]))
                data = data[head_end + 4 + length :]
                continue
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    return out


def test_keep_alive_and_pipelining_keep_order(server: str) -> None:
    client = connect(server)
    client.sendall(
        b"GET /wait HTTP/1.1\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /echo?2 HTTP/1.1\r\n\r\n"
    )
    responses = read_responses(client, 3)
    assert [body for _, body in responses] == [b"waited", b"abc", b"/echo?2"]
    client.sendall(b"GET /echo?again HTTP/1.1\r\n\r\n")  # still open: keep-alive
    assert read_responses(client, 1)[0][1] == b"/echo?again"


def test_http10_closes_after_response(server: str) -> None:
    client = connect(server)
    client.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
    assert read_responses(client, 1)[0][0] == b"HTTP/1.1 200 OK"
    assert client.recv(10) == b""


def test_garbage_gets_400_and_close(server: str) -> None:
    client = connect(server)
    client.sendall(b"\x16\x03\x01 hello there\r\n")
    status, _ = read_responses(client, 1)[0]
    assert status.startswith(b"HTTP/1.1 400")
    assert client.recv(10) == b""


def test_oversized_body_gets_413(server: str) -> None:
    client = connect(server)
    client.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    assert read_responses(client, 1)[0][0].startswith(b"HTTP/1.1 413")


def test_chunked_stream(server: str) -> None:
    client = connect(server)
    client.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = client.recv(4096)
        assert chunk
        data += chunk
    assert b"Transfer-Encoding: chunked" in data
    assert data.split(b"\r\n\r\n", 1)[1] == b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"


def test_slow_and_stalled_clients_block_nobody(server: str) -> None:
    # One client sends half a request and stops; another asks for 8 MiB and never reads.
    half = connect(server)
    half.sendall(b"GET /echo HTT")
    stalled = connect(server)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /big HTTP/1.1\r\n\r\n")
    time.sleep(0.2)
    started = time.monotonic()
    client = connect(server)
    client.sendall(b"GET /echo?fine HTTP/1.1\r\n\r\n")
    assert read_responses(client, 1)[0][1] == b"/echo?fine"
    assert time.monotonic() - started < 1.0
    # The half request can still be completed.
    half.sendall(b"P/1.1\r\n\r\n")
    assert read_responses(half, 1)[0][1] == b"/echo"


def test_unknown_path_is_404(server: str) -> None:
    client = connect(server)
    client.sendall(b"GET /nope HTTP/1.1\r\n\r\n")
    assert read_responses(client, 1)[0][0].startswith(b"HTTP/1.1 404")


def test_a_self_timed_stream_has_no_idle_timer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open stream outlives the idle timeout either way (it waits on us); a self-timed
    one (the state stream: its own pings) is not woken for it again, a plain one is."""
    from supervisor_runtime.rpc import http as http_module

    monkeypatch.setattr(http_module, "IDLE_TIMEOUT", 0.1)
    path = str(tmp_path / "http.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen(8)
    loop = EventLoop()

    def handle(request: Request, responder: Responder) -> None:
        responder.start_stream(200, [], close=True, self_timed=request.path == "/timed")

    server = HttpServer(loop, sock, "unix_http_server", handle)

    def pending_timers() -> int:
        return sum(1 for _when, _seq, timer in loop._timers if not timer.cancelled)

    try:
        for stream_path, timers_left in (("/timed", 0), ("/plain", 1)):
            client = connect(path)
            client.sendall(f"GET {stream_path} HTTP/1.1\r\n\r\n".encode())
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                loop.run_once(max_wait=0.02)
            assert pending_timers() == timers_left, stream_path
            assert client.recv(100).startswith(b"HTTP/1.1 200")  # still open, never cut
            client.close()
            while pending_timers():  # the plain one's timer notices the close
                loop.run_once(max_wait=0.02)
    finally:
        server.close()
        loop.close()
        sock.close()
