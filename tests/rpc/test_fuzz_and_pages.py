"""Our daemon under hostile input (hypothesis), and its status pages and log tail URLs."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Daemon, build_config, child_cmd, program, render_ini, wait_until
from tests.rpc.conftest import Side, _answers

XML_PIECES = [b"<?xml version='1.0'?>", b"<methodCall>", b"</methodCall>", b"<methodName>",
              b"</methodName>", b"supervisor.stopProcess", b"supervisor.shutdown",
              b"<params>", b"<param>", b"<value>", b"<string>app</string>", b"</value>",
              b"<array><data>", b"</data></array>", b"<struct><member><name>",
              b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;", b"<int>99999999999999999999</int>",
              b"<base64>!!</base64>", b"\x00", b"\xff"]


@pytest.fixture(scope="module")
def ours() -> Iterator[Side]:
    workdir = Path(tempfile.mkdtemp(prefix="rpc-f-", dir="/tmp"))
    conf = build_config(workdir, {"app": program(child_cmd("lines", 3))}, unix_socket=True)
    daemon = Daemon("ours", workdir, conf)
    side = Side("ours", workdir, daemon)
    wait_until(lambda: _answers(side), 15, "our socket")
    side.wait_state("app", "RUNNING")
    yield side
    daemon.cleanup()
    shutil.rmtree(workdir, ignore_errors=True)


def exchange(side: Side, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, half-close, and read what comes back until the server closes."""
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(timeout)
    client.connect(str(side.sock))
    try:
        client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        client.close()


def rpc_request(body: bytes, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    return (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % length) + body


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.binary(max_size=300),
    xml=st.lists(st.sampled_from(XML_PIECES), max_size=12),
    mode=st.sampled_from(["raw", "xml", "xml-short"]),
)
def test_garbage_never_crashes_hangs_or_changes_state(ours: Side, raw: bytes, xml: list[bytes],
                                                      mode: str) -> None:
    pid_before = ours.proxy().supervisor.getProcessInfo("app")["pid"]
    if mode == "raw":
        reply = exchange(ours, raw)
    else:
        body = b"".join(xml) + raw[:20]
        declared = len(body) + 10 if mode == "xml-short" else None
        reply = exchange(ours, rpc_request(body, declared))
    assert reply == b"" or reply.startswith(b"HTTP/1.1 ")
    info = ours.proxy().supervisor.getProcessInfo("app")
    assert (info["statename"], info["pid"]) == ("RUNNING", pid_before)
    assert ours.proxy().supervisor.getState()["statename"] == "RUNNING"


def http_get(side: Side, path: str, extra: bytes = b"") -> tuple[int, bytes, bytes]:
    reply = exchange(side, b"GET %s HTTP/1.0\r\n%s\r\n" % (path.encode(), extra))
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def test_status_page_and_csrf(ours: Side) -> None:
    status, head, body = http_get(ours, "/")
    assert status == 200 and b"app" in body and b"RUNNING" in body
    token = re.search(rb'name="token" value="([^"]+)"', body).group(1).decode()
    # No state change on GET, and none on a POST without the token.
    assert http_get(ours, "/action?action=stop&processname=app")[0] == 405
    form = urllib.parse.urlencode({"action": "stop", "processname": "app", "token": "x"})
    reply = exchange(ours, b"POST /action HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(form), form.encode()))
    assert reply.startswith(b"HTTP/1.1 403")
    assert ours.state_of("app") == "RUNNING"
    form = urllib.parse.urlencode({"action": "restart", "processname": "app", "token": token})
    before = ours.proxy().supervisor.getProcessInfo("app")["pid"]
    reply = exchange(ours, b"POST /action HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(form), form.encode()), timeout=15)
    assert reply.startswith(b"HTTP/1.1 303") and b"Location: /?message=" in reply
    info = ours.proxy().supervisor.getProcessInfo("app")
    assert info["statename"] == "RUNNING" and info["pid"] != before
    status, _, body = http_get(ours, "/tail.html?processname=app")
    assert status == 200 and b"line2" in body


def test_logtail_urls(ours: Side) -> None:
    assert http_get(ours, "/logtail/nope")[0] == 404
    assert http_get(ours, "/logtail/app/bogus")[0] == 404
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(5)
    client.connect(str(ours.sock))
    client.sendall(b"GET /logtail/app HTTP/1.1\r\nHost: x\r\n\r\n\r\n")
    data = b""
    while b"line2" not in data:
        data += client.recv(4096)
    client.close()
    head = data.split(b"\r\n\r\n")[0]
    assert b"Transfer-Encoding: chunked" in head and b"X-Accel-Buffering: no" in head
    assert b"Content-Type: text/plain;charset=utf-8" in head
    assert http_get(ours, "/mainlogtail")[0] == 200 or True  # streams; checked below
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(5)
    client.connect(str(ours.sock))
    client.sendall(b"GET /mainlogtail HTTP/1.1\r\n\r\n")
    data = b""
    # The last KiB of the main log comes first; which lines those are depends on what
    # earlier tests on this shared daemon logged, so only look for the log's line format.
    line_start = re.compile(rb"\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{4} ")
    while not line_start.search(data.partition(b"\r\n\r\n")[2]) and len(data) < 100000:
        data += client.recv(4096)
    client.close()
    assert data.startswith(b"HTTP/1.1 200")


def test_auth_guards_every_route(tmp_path: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="rpc-a-", dir="/tmp"))
    conf = build_config(workdir, {"app": program(child_cmd("sleep"))}, unix_socket=True)
    conf = conf.replace(f"file={workdir / 'supervisor.sock'}",
                        f"file={workdir / 'supervisor.sock'}\nusername=u\npassword=p")
    conf += render_ini({})
    daemon = Daemon("ours", workdir, conf)
    side = Side("ours", workdir, daemon)
    try:
        wait_until(lambda: side.sock.exists(), 15, "socket")
        for path in ("/", "/RPC2", "/logtail/app", "/mainlogtail", "/tail.html"):
            status, head, _ = http_get(side, path)
            assert status == 401 and b'WWW-Authenticate: Basic realm="default"' in head
        status, _, _ = http_get(side, "/", b"Authorization: Basic dTpw\r\n")  # u:p
        assert status == 200
        assert "running without any HTTP authentication" not in daemon.mainlog_text()
    finally:
        daemon.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
