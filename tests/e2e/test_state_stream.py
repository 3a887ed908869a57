"""[supervisord] state_stream = true with a real daemon over real sockets: GET /state-stream
gives a snapshot first, then each process state change in order (with its history entry
when history is on), a new snapshot after groups change, heartbeat pings; it uses the
server's auth; a reader that stops reading slows no one and is cut past 1 MiB unsent.
Stock 4.3.0 loads a config with the key (and answers 404, as ours does without it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from supervisor_runtime.ctl.client import connect
from tests.ctl.ctlrun import run_ctl
from tests.harness import build_config, child_cmd, ours_only, program, wait_until

SLEEPER = program(child_cmd("sleep"), startsecs=0)
pytestmark = pytest.mark.timeout(120)


def config(
    workdir: Path,
    programs: dict[str, dict[str, object]],
    *,
    stream: bool = True,
    history: bool = True,
    extra: dict[str, dict[str, object]] | None = None,
) -> str:
    supervisord: dict[str, object] = {}
    if stream:
        supervisord["state_stream"] = True
    if history:
        supervisord["history"] = True
    return build_config(
        workdir,
        programs,
        supervisord=supervisord,
        unix_socket=True,
        extra={
            "supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"},
            **(extra or {}),
        },
    )


def proxy(workdir: Path) -> Any:
    return connect(f"unix://{workdir}/supervisor.sock", timeout=20)


def wait_state(workdir: Path, name: str, state: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        try:
            info = proxy(workdir).supervisor.getProcessInfo(name)
        except (OSError, xmlrpc.client.Fault):
            return None
        return info if info["statename"] == state else None

    return wait_until(reached, 20, f"{name} {state}")


class Stream:
    """A raw client of GET /state-stream: the head, then one JSON line at a time."""

    def __init__(
        self, sock: socket.socket, target: str = "/state-stream", headers: str = ""
    ) -> None:
        self.sock = sock
        sock.settimeout(10)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}

    @classmethod
    def unix(cls, workdir: Path, target: str = "/state-stream") -> Stream:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(workdir / "supervisor.sock"))
        return cls(sock, target)

    def line(self, timeout: float = 10) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the stream ended")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(raw)

    def until(self, check: Any, timeout: float = 10) -> list[dict[str, Any]]:
        """Lines up to and including the first for which ``check`` is true."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            seen.append(self.line(max(0.1, deadline - time.monotonic())))
            if check(seen[-1]):
                return seen

    def close(self) -> None:
        self.sock.close()


def process_lines(lines: list[dict[str, Any]], name: str) -> list[tuple[str, str]]:
    return [
        (x["from"], x["to"])
        for x in lines
        if x["type"] == "process" and x["process"]["name"] == name
    ]


def test_stock_loads_a_config_with_the_key_and_neither_serves_the_path_without_it(
    impl: str, start_daemon, workdir: Path
) -> None:
    start_daemon(config(workdir, {"app": SLEEPER}))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir)
    if impl == "stock":
        assert stream.status == 404  # an unknown key: stock loads the file, ignores it
        return
    assert stream.status == 200
    assert stream.headers["content-type"] == "application/x-ndjson"
    assert stream.headers["connection"] == "close"
    assert "content-length" not in stream.headers
    assert "transfer-encoding" not in stream.headers
    stream.close()


def test_without_the_key_the_path_is_a_404_and_methods_are_stock(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "compares ours with and without the key")
    daemon = start_daemon(config(workdir, {"app": SLEEPER}, stream=False, history=False))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir)
    assert stream.status == 404
    stream.close()
    without = proxy(workdir).system.listMethods()
    daemon.stop()
    start_daemon(config(workdir, {"app": SLEEPER}, history=False))
    wait_state(workdir, "app", "RUNNING")
    assert proxy(workdir).system.listMethods() == without


def test_snapshot_then_each_change_in_order_with_its_transition(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the state stream is ours")
    start_daemon(config(workdir, {"app": SLEEPER}))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir)
    snapshot = stream.line()
    assert (snapshot["type"], snapshot["seq"], snapshot["notices"]) == ("snapshot", 0, [])
    assert [(p["name"], p["statename"]) for p in snapshot["processes"]] == [("app", "RUNNING")]

    rpc = proxy(workdir).supervisor
    assert rpc.stopProcess("app") is True
    assert rpc.startProcess("app") is True
    lines = stream.until(lambda x: x.get("to") == "RUNNING")
    assert process_lines(lines, "app") == [
        ("RUNNING", "STOPPING"),
        ("STOPPING", "STOPPED"),
        ("STOPPED", "STARTING"),
        ("STARTING", "RUNNING"),
    ]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4]
    # Each line's struct is what getProcessInfo says once that change is done: a stopped
    # process has no pid any more, a starting one has its new pid already.
    assert [x["process"]["pid"] > 0 for x in lines] == [True, False, True, True]
    assert lines[2]["process"]["pid"] == lines[3]["process"]["pid"]
    pid = lines[-1]["process"]["pid"]
    assert lines[-1]["process"]["statename"] == "RUNNING" and pid > 0
    # Each line carries the history entry of its change, exactly as the runtime keeps it.
    kept = proxy(workdir).runtime.getProcessHistory("app")["transitions"]
    assert [x["transition"] for x in lines] == kept[-4:]
    assert lines[0]["transition"]["reason"] == "request"

    os.kill(pid, signal.SIGKILL)  # a crash: EXITED (not expected), then autorestart
    lines = stream.until(lambda x: x.get("to") == "RUNNING")
    assert process_lines(lines, "app")[:2] == [("RUNNING", "EXITED"), ("EXITED", "STARTING")]
    assert lines[0]["process"]["pid"] == 0 and lines[0]["process"]["statename"] == "EXITED"
    assert lines[0]["transition"]["reason"] == "signal"
    assert lines[0]["transition"]["signal"] == "SIGKILL"
    stream.close()


def test_without_history_the_transition_is_null(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the state stream is ours")
    start_daemon(config(workdir, {"app": SLEEPER}, history=False))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir)
    assert stream.line()["type"] == "snapshot"
    proxy(workdir).supervisor.stopProcess("app")
    lines = stream.until(lambda x: x.get("to") == "STOPPED")
    assert process_lines(lines, "app") == [("RUNNING", "STOPPING"), ("STOPPING", "STOPPED")]
    assert all(x["transition"] is None for x in lines)


def test_update_adding_a_group_sends_a_new_snapshot(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the state stream is ours")
    daemon = start_daemon(config(workdir, {"app": SLEEPER}))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir)
    assert stream.line()["type"] == "snapshot"
    daemon.write_config(config(workdir, {"app": SLEEPER, "extra": SLEEPER}))
    out = run_ctl("ours", "update", conf=daemon.conf_path)
    assert out.rc == 0 and "extra: added process group" in out.stdout, out
    lines = stream.until(lambda x: x["type"] == "snapshot")
    snapshot = lines[-1]
    assert sorted(p["name"] for p in snapshot["processes"]) == ["app", "extra"]
    # The new group's start comes as process lines too (its snapshot is sent once the
    # request that added it is done: startsecs=0 may be RUNNING by then).
    if process_lines(lines, "extra")[-1:] != [("STARTING", "RUNNING")]:
        lines = stream.until(lambda x: x.get("to") == "RUNNING")
        assert process_lines(lines, "extra")[-1] == ("STARTING", "RUNNING")


def test_a_reread_that_sets_a_file_aside_sends_a_new_snapshot(
    impl: str, start_daemon, workdir: Path
) -> None:
    """``[include] skip_broken``: a file that breaks is set aside on reread, with no group
    added or removed; the snapshot that follows names it in its notices."""
    ours_only(impl, "the state stream is ours")
    included = workdir / "conf.d"
    included.mkdir()
    include = {"include": {"files": f"{included}/*.conf", "skip_broken": True}}
    daemon = start_daemon(config(workdir, {"app": SLEEPER}, extra=include))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir)
    assert stream.line()["notices"] == []
    (included / "typo.conf").write_text("[program:typo]\ncommand=/bin/true\nnumprocs=l\n")
    out = run_ctl("ours", "reread", conf=daemon.conf_path)
    assert out.rc == 0, out
    snapshot = stream.until(lambda x: x["type"] == "snapshot")[-1]
    assert [(n["section"], n["key"], n["value"]) for n in snapshot["notices"]] == [
        ("program:typo", "numprocs", "l")
    ]


def test_heartbeat_pings_a_silent_stream(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the state stream is ours")
    start_daemon(config(workdir, {"app": SLEEPER}))
    wait_state(workdir, "app", "RUNNING")
    stream = Stream.unix(workdir, "/state-stream?heartbeat=0.2")
    assert stream.line()["type"] == "snapshot"
    started = time.monotonic()
    pings = [stream.line(5), stream.line(5)]
    assert [(p["type"], p["seq"]) for p in pings] == [("ping", 1), ("ping", 2)]
    assert 0.3 < time.monotonic() - started < 3
    assert Stream.unix(workdir, "/state-stream?heartbeat=soon").status == 400


def test_inet_asks_for_the_servers_login(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the state stream is ours")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inet = {
        "inet_http_server": {"port": f"127.0.0.1:{port}", "username": "alice", "password": "s3cret"}
    }
    start_daemon(config(workdir, {"app": SLEEPER}, extra=inet))
    wait_state(workdir, "app", "RUNNING")
    refused = Stream(socket.create_connection(("127.0.0.1", port)))
    assert refused.status == 401
    login = "Authorization: Basic YWxpY2U6czNjcmV0\r\n"  # alice:s3cret
    stream = Stream(socket.create_connection(("127.0.0.1", port)), headers=login)
    assert stream.status == 200
    assert stream.line()["processes"][0]["name"] == "app"
    stream.close()


def test_a_reader_that_never_reads_slows_no_one_and_is_cut_past_1_mib(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the state stream is ours")
    many = program(
        child_cmd("sleep"),
        numprocs=300,
        process_name="%(program_name)s_%(process_num)03d",
        autostart=False,
    )
    daemon = start_daemon(config(workdir, {"app": SLEEPER, "many": many}))
    wait_state(workdir, "app", "RUNNING")
    stalled = socket.socket(socket.AF_UNIX)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(str(workdir / "supervisor.sock"))
    stalled.sendall(b"GET /state-stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
    live = Stream.unix(workdir)
    assert live.line()["type"] == "snapshot"
    rpc = proxy(workdir).supervisor
    # Each remove and add of a 300-process group is a snapshot of ~100 KiB to every reader.
    slowest = 0.0
    for _ in range(20):
        assert rpc.removeProcessGroup("many") is True
        assert rpc.addProcessGroup("many") is True
        started = time.monotonic()
        assert rpc.getProcessInfo("app")["statename"] == "RUNNING"
        slowest = max(slowest, time.monotonic() - started)
        if "over 1048576 bytes unsent; closing it" in daemon.mainlog_text():
            break
    assert "over 1048576 bytes unsent; closing it" in daemon.mainlog_text()
    assert slowest < 0.5, slowest
    # The reader that keeps up got every snapshot; the stalled one reads to the cut's end.
    assert live.until(lambda x: x["type"] == "snapshot")[-1]["type"] == "snapshot"
    stalled.settimeout(10)
    received = 0
    while chunk := stalled.recv(1 << 20):
        received += len(chunk)
    assert received < 2 * 1024 * 1024
    live.close()
