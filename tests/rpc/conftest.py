"""Running stock supervisord 4.3.0 and ours side by side on the same config, over XML-RPC.

`pair(programs)` starts both daemons (each in its own directory, with a unix socket and
optionally an inet server) and returns {"stock": Side, "ours": Side}. `normalize` removes
what legitimately differs between two runs: pids, times, directories, AUTO log names.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import tempfile
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Daemon, build_config, render_ini, wait_until
from tests.stock import stock_bin


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.socket_path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return UnixConnection(self.socket_path)


def unix_proxy(path: Path) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy("http://localhost", transport=UnixTransport(str(path)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Side:
    impl: str
    workdir: Path
    daemon: Daemon
    inet_port: int | None = None

    @property
    def sock(self) -> Path:
        return self.workdir / "supervisor.sock"

    def proxy(self) -> xmlrpc.client.ServerProxy:
        return unix_proxy(self.sock)

    def inet_proxy(self, user: str | None = None, password: str | None = None):
        auth = f"{user}:{password}@" if user is not None else ""
        return xmlrpc.client.ServerProxy(f"http://{auth}127.0.0.1:{self.inet_port}/RPC2")

    def call(self, method: str, *args: Any) -> Any:
        """The method's value, or ("FAULT", code, string)."""
        target: Any = self.proxy()
        for part in method.split("."):
            target = getattr(target, part)
        try:
            return target(*args)
        except xmlrpc.client.Fault as fault:
            return ("FAULT", fault.faultCode, fault.faultString)

    def ctl(self, *args: str, timeout: float = 30) -> tuple[int, str]:
        """Stock supervisorctl against this daemon: (exit code, stdout + stderr)."""
        done = subprocess.run(
            [str(stock_bin("supervisorctl")), "-c", str(self.daemon.conf_path), *args],
            capture_output=True, text=True, timeout=timeout,
        )
        return done.returncode, done.stdout + done.stderr

    def state_of(self, name: str) -> str:
        try:
            return self.proxy().supervisor.getProcessInfo(name)["statename"]
        except (OSError, xmlrpc.client.Error):
            return ""

    def wait_state(self, name: str, state: str, timeout: float = 10) -> None:
        wait_until(lambda: self.state_of(name) == state, timeout, f"{self.impl} {name} {state}")


def side_config(workdir: Path, programs: Mapping[str, Mapping[str, object]],
                extra: Mapping[str, Mapping[str, object]] | None, inet_port: int | None,
                auth: tuple[str, str] | None) -> str:
    sections: dict[str, Mapping[str, object]] = {}
    if inet_port is not None:
        inet: dict[str, object] = {"port": f"127.0.0.1:{inet_port}"}
        if auth:
            inet.update(username=auth[0], password=auth[1])
        sections["inet_http_server"] = inet
    sections["supervisorctl"] = {"serverurl": f"unix://{workdir / 'supervisor.sock'}"}
    sections.update(extra or {})
    text = build_config(workdir, programs, unix_socket=True)
    return text + "\n" + render_ini(sections)


Pair = dict[str, Side]


@pytest.fixture
def pair() -> Iterator[Callable[..., Pair]]:
    started: list[Side] = []

    def start(programs: Mapping[str, Mapping[str, object]], *,
              extra: Mapping[str, Mapping[str, object]] | None = None,
              inet: bool = False, auth: tuple[str, str] | None = None,
              impls: tuple[str, ...] = ("stock", "ours")) -> Pair:
        sides: Pair = {}
        for impl in impls:
            workdir = Path(tempfile.mkdtemp(prefix=f"rpc-{impl[0]}-", dir="/tmp"))
            port = free_port() if inet else None
            conf = side_config(workdir, programs, extra, port, auth)
            daemon = Daemon(impl, workdir, conf)
            side = Side(impl, workdir, daemon, port)
            started.append(side)
            sides[impl] = side
        for side in sides.values():
            wait_until(lambda side=side: _answers(side), 15, f"{side.impl} socket")
        return sides

    yield start
    for side in started:
        try:
            side.daemon.cleanup()
        finally:
            shutil.rmtree(side.workdir, ignore_errors=True)


def _answers(side: Side) -> bool:
    if side.daemon.returncode is not None:
        raise AssertionError(f"{side.impl} exited:\n{side.daemon.output_text()}")
    try:
        side.proxy().supervisor.getState()
    except (OSError, xmlrpc.client.Error):
        return False
    return True


AUTO_LOG = re.compile(r"-(stdout|stderr)---supervisor-[A-Za-z0-9_]+\.log")
DATE = re.compile(r"^[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M$")
UPTIME = re.compile(r"pid \d+, uptime \d+:\d\d:\d\d")
TIME_KEYS = {"start", "stop", "now", "pid"}


def normalize(value: Any, side: Side) -> Any:
    """Replace what differs between two daemons run a moment apart."""
    if isinstance(value, dict):
        return {
            k: (bool(v) if k in TIME_KEYS and isinstance(v, int) else normalize(v, side))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(normalize(v, side) for v in value)
    if isinstance(value, str):
        text = value.replace(str(side.workdir), "<W>")
        text = AUTO_LOG.sub(r"-\1---supervisor-X.log", text)
        text = UPTIME.sub("pid N, uptime T", text)
        return "<DATE>" if DATE.match(text) else text
    return value
