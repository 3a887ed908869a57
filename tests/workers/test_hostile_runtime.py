"""A runtime that a tenant controls may answer with anything: the platform's client bounds
what it reads and how long it waits, per call, whatever the bytes do."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workers.runtime import MAX_RESPONSE_BYTES, Runtime, RuntimeRefused, RuntimeUnavailable

Serve = Callable[[socket.socket], None]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Callable[[Serve], str]]:
    """hostile(serve) -> a unix:// URL whose server runs ``serve`` on each connection."""
    servers: list[socket.socket] = []

    def start(serve: Serve) -> str:
        path = tmp_path / f"s{len(servers)}.sock"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.listen(4)
        servers.append(server)

        def loop() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=_serve_quietly, args=(serve, conn), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return f"unix://{path}"

    yield start
    for server in servers:
        server.close()


def _serve_quietly(serve: Serve, conn: socket.socket) -> None:
    try:
        conn.recv(65536)
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()


def endless_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"<" * 65536
    while True:
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def drip(conn: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


def garbage(conn: socket.socket) -> None:
    body = b"<?xml version='1.0'?><methodResponse><params><param><value><nonsense/>"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_an_endless_answer_is_refused_at_the_cap(hostile: Callable[[Serve], str]) -> None:
    runtime = Runtime(hostile(endless_body), timeout=20)
    began = time.monotonic()
    with pytest.raises(RuntimeRefused, match=f"larger than {MAX_RESPONSE_BYTES} bytes"):
        runtime.call("getAllProcessInfo")
    assert time.monotonic() - began < 10


def test_a_dripping_answer_is_cut_off_at_the_deadline(hostile: Callable[[Serve], str]) -> None:
    runtime = Runtime(hostile(drip), timeout=1.5, label="the runtime of app x")
    began = time.monotonic()
    with pytest.raises(RuntimeUnavailable, match="app x did not answer within 1.5s"):
        runtime.call("getAllProcessInfo")
    assert time.monotonic() - began < 5


def test_an_answer_that_is_not_xml_rpc_is_a_refusal(hostile: Callable[[Serve], str]) -> None:
    with pytest.raises(RuntimeRefused, match="gave a bad answer"):
        Runtime(hostile(garbage), timeout=5).call("getState")
