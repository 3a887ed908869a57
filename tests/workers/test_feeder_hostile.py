"""A runtime that streams garbage or an endless line is dropped (shown down, naming why)
and affects no other app: the feeder in-process over real sockets and a real Redis, one
app served by a real runtime of ours (state_stream, history), the other by a hostile
server in this test. Both run as this test's user, whom the apps are given as owner
(the app set is given directly: no host, database or users needed)."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hosting.status import read_app_status
from redis import Redis

from tests.workers.fixtures import wait_until
from workers import feeder as feeder_module
from workers.host import BIN_DIR, HostConfig
from workers.layout import AppLayout
from workers.runtime import Runtime
from workers.status import AppRef

pytestmark = pytest.mark.timeout(120)
ME = pwd.getpwuid(os.getuid()).pw_name


def good_runtime(layout: AppLayout) -> subprocess.Popen[bytes]:
    (layout.root / "run").mkdir(parents=True)
    (layout.root / "log").mkdir()
    conf = layout.root / "supervisord.conf"
    conf.write_text(
        f"[unix_http_server]\nfile={layout.socket}\n\n"
        f"[supervisord]\nlogfile={layout.root}/log/main.log\npidfile={layout.root}/run/pid\n"
        f"childlogdir={layout.root}/log\nnodaemon=true\nstate_stream=true\nhistory=true\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[program:app]\ncommand={sys.executable} -c 'import time; time.sleep(600)'\n"
        "startsecs=0\n"
    )
    return subprocess.Popen(
        [str(BIN_DIR / "supervisord"), "-n", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def hostile_server(layout: AppLayout, body: bytes | None) -> socket.socket:
    """Answers the state stream's request with 200, then ``body``, and keeps it open;
    ``body`` None: never answers (a runtime that is alive but stuck)."""
    (layout.root / "run").mkdir(parents=True)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(layout.socket))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(4096)
            if body is None:
                continue  # held open, never answered
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
            except OSError:
                pass  # the feeder hung up: what it should do

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.fixture
def feeder_over(
    base_dir: Path, redis_url: str
) -> Iterator[tuple[feeder_module.Feeder, Redis, threading.Thread]]:
    host = HostConfig(str(base_dir / "host"), "q", redis_url, "sqlite://", containers=False)
    redis = Redis.from_url(redis_url)
    feeder = feeder_module.Feeder(host, None, redis)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            feeder.step()

    thread = threading.Thread(target=loop, daemon=True)
    yield feeder, redis, thread
    stop.set()
    feeder.next_apps = 0.0  # wakes within its next step
    thread.join(15)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\x00\x01 not json at all\n", "its runtime sent a line that is not JSON"),
        (b"{" + b"x" * (2 * 1024 * 1024), "its runtime sent a line over 1048576 bytes"),
    ],
)
def test_garbage_or_a_huge_line_drops_that_app_only(
    base_dir: Path,
    feeder_over: tuple[feeder_module.Feeder, Redis, threading.Thread],
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    why: str,
) -> None:
    _feeder, redis, thread = feeder_over
    good = AppRef(1, "good", ME, AppLayout(base_dir / "apps" / "good"))
    bad = AppRef(2, "bad", ME, AppLayout(base_dir / "apps" / "bad"))
    runtime = good_runtime(good.layout)
    server = hostile_server(bad.layout, body)
    monkeypatch.setattr(feeder_module, "host_apps", lambda sessions, host: [good, bad])
    try:
        thread.start()

        def status(app_id: int) -> dict[str, Any]:
            return read_app_status(redis, app_id) or {}

        def app_running() -> bool:
            processes = status(1).get("processes") or [{}]
            return processes[0].get("statename") == "RUNNING"

        wait_until(app_running, 20, "the good app RUNNING")
        wait_until(lambda: status(2).get("error") == why, 20, f"the bad app down: {why}")
        assert status(2)["runtime"] == "down"
        with Runtime(good.layout.serverurl) as client:
            client.call("stopProcess", "app")
        wait_until(lambda: status(1)["processes"][0]["statename"] == "STOPPED", 5, "pushed")
        assert status(1)["runtime"] == "up"
    finally:
        server.close()
        runtime.terminate()
        runtime.wait(20)


def test_a_runtime_that_never_answers_is_shown_down_once_silent_long_enough(
    base_dir: Path,
    feeder_over: tuple[feeder_module.Feeder, Redis, threading.Thread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pings are rare (HEARTBEAT): a stuck runtime is found by its silence, here shortened;
    one that accepts the connection and never sends its head counts too."""
    _feeder, redis, thread = feeder_over
    stuck = AppRef(3, "stuck", ME, AppLayout(base_dir / "apps" / "stuck"))
    server = hostile_server(stuck.layout, None)
    monkeypatch.setattr(feeder_module, "host_apps", lambda sessions, host: [stuck])
    monkeypatch.setattr(feeder_module, "SILENT_SECONDS", 0.5)
    monkeypatch.setattr(feeder_module, "APPS_SECONDS", 0.2)
    try:
        thread.start()
        wait_until(
            lambda: (
                (read_app_status(redis, 3) or {}).get("error") == "its state stream went silent"
            ),
            20,
            "the stuck app shown down",
        )
        assert read_app_status(redis, 3)["runtime"] == "down"
    finally:
        server.close()
