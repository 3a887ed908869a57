"""Shared by the readiness, liveness and depends_on tests: our daemon on a unix socket, its
``runtime.*`` answers, and the check server (check_server.py) as a program."""

from __future__ import annotations

import socket
import sys
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from supervisor_runtime.ctl.client import connect
from tests.ctl.ctlrun import run_ctl
from tests.harness import Daemon, build_config, wait_until

SERVER = Path(__file__).resolve().parent / "check_server.py"


def server_cmd(kind: str, address: object, *options: object) -> str:
    """command= running check_server.py (see its docstring for the options)."""
    return " ".join([sys.executable, "-u", str(SERVER), kind, str(address), *map(str, options)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(workdir: Path, programs: Mapping[str, Mapping[str, object]]) -> str:
    return build_config(
        workdir,
        programs,
        unix_socket=True,
        extra={"supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"}},
    )


def rpc(workdir: Path) -> Any:
    return connect(f"unix://{workdir}/supervisor.sock", timeout=20)


def answer(call: Callable[[], Any]) -> Any:
    """The call's answer, or None while the daemon does not listen yet."""
    try:
        return call()
    except (OSError, xmlrpc.client.Fault):
        return None


def health(workdir: Path, name: str) -> dict[str, Any]:
    return rpc(workdir).runtime.getProcessHealth(name)


def wait_health(
    workdir: Path, name: str, predicate: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = answer(lambda: health(workdir, name))
        return found if found is not None and predicate(found) else None

    return wait_until(check, 20, f"{name}: {what}")


def info(workdir: Path, name: str) -> dict[str, Any]:
    return rpc(workdir).supervisor.getProcessInfo(name)


def wait_state(workdir: Path, name: str, state: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = answer(lambda: info(workdir, name))
        return found if found is not None and found["statename"] == state else None

    return wait_until(check, 20, f"{name} {state}")


def status_line(workdir: Path, name: str) -> str:
    """Our supervisorctl's status line of ``name``."""
    out = run_ctl("ours", "status", name, conf=workdir / "supervisord.conf").stdout
    return out.strip()


def ours_daemons(workdir: Path) -> Iterator[Callable[[str], Daemon]]:
    """For a fixture: a factory of our supervisord on a config text; each is stopped and
    cleaned up at teardown."""
    started: list[Daemon] = []

    def start(conf: str) -> Daemon:
        daemon = Daemon("ours", workdir, conf)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.cleanup()
