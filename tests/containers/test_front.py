"""The front: the host's way in to each app's port, through the app's network namespace;
and what an app (or its visitors) can do to it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import wait_until
from workers import front
from workers.container import netns

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

APP = """
import socket, sys, threading
def serve(port, answer):
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port)); server.listen(64)
    kept = []
    while True:
        conn, _ = server.accept()
        if answer:
            conn.recv(100); conn.sendall(b"hello from inside"); conn.close()
        else:
            kept.append(conn)  # open, and silent
threading.Thread(target=serve, args=(9001, True), daemon=True).start()
print("ready", flush=True)
serve(9002, False)
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"hosting-fronttest{os.getpid()}"
    path = netns.ensure(name)
    app = subprocess.Popen(
        ["ip", "netns", "exec", name, sys.executable, "-c", APP], stdout=subprocess.PIPE, text=True
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        yield str(path)
    finally:
        app.kill()
        app.wait(10)
        netns.remove(name)


@pytest.fixture
def running_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[front.Front]:
    monkeypatch.setattr(front, "IDLE_SECONDS", 1.0)
    monkeypatch.setattr(front, "CLOSE_GRACE_SECONDS", 1.0)
    monkeypatch.setattr(front, "MAX_CONNECTIONS_PER_APP", 3)
    monkeypatch.setattr(front, "RESCAN_SECONDS", 0.1)
    (tmp_path / "conf" / "front.d").mkdir(parents=True)
    loop = asyncio.new_event_loop()
    the_front = front.Front(tmp_path)
    tasks: list[asyncio.Task[None]] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        tasks.append(loop.create_task(the_front.run()))
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield the_front

    def shut_down() -> None:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.call_later(0.1, loop.stop)

    loop.call_soon_threadsafe(shut_down)
    thread.join(10)


def route(host_root: Path, app: str, netns_path: str, port: int) -> Path:
    path = front.route_path(host_root, app)
    path.write_text(json.dumps({"netns": netns_path, "port": port, "listen": []}))
    sock = front.socket_path(host_root, app)
    wait_until(sock.exists, 10, "the front to serve the route")
    return sock


def test_the_front_reaches_the_apps_port_inside_its_namespace(
    namespace: str, running_front: front.Front
) -> None:
    sock_path = route(running_front.host_root, "shop", namespace, 9001)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(sock_path))
        sock.sendall(b"hi")
        assert sock.recv(100) == b"hello from inside"
    # Nothing listens on the host's own 127.0.0.1:9001.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", 9001), timeout=2):
        pass


def test_a_silent_app_holds_neither_descriptors_nor_more_than_its_share(
    namespace: str, running_front: front.Front
) -> None:
    sock_path = route(running_front.host_root, "silent", namespace, 9002)
    held = []
    for _ in range(3):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(5)
        sock.connect(str(sock_path))
        held.append(sock)
    served = running_front.served
    wait_until(lambda: served["silent"].connections == 3, 10, "three relayed connections")
    extra = socket.socket(socket.AF_UNIX)
    extra.settimeout(5)
    extra.connect(str(sock_path))
    assert extra.recv(10) == b""  # over the app's share: closed at once
    extra.close()
    for sock in held:  # nothing moved for IDLE_SECONDS: the front lets go
        assert sock.recv(10) == b""
        sock.close()
