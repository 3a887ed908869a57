"""Shared by the live-upgrade and sd_notify tests: a config of numbered writers, and
reading what the daemon and its logs say."""

from __future__ import annotations

import re
import threading
import time
import xmlrpc.client
from pathlib import Path

from tests.ctl.ctlrun import run_ctl
from tests.harness import PY, build_config, program
from tests.rpc.conftest import unix_proxy

WRITER = Path(__file__).resolve().with_name("numbered_writer.py")
STATUS_LINE = re.compile(r"^(\S+)\s+(\w+)\s+pid (\d+),", re.MULTILINE)


def writer_name(index: int) -> str:
    return f"w{index:03d}"


def writers_config(workdir: Path, count: int, pause: float = 0.01, **supervisord: object) -> str:
    """`count` numbered writers; even ones log to AUTO files, odd ones to named files."""
    (workdir / "logs").mkdir(exist_ok=True)
    programs = {}
    for index in range(count):
        options: dict[str, object] = {"startsecs": 1}
        if index % 2:
            options["stdout_logfile"] = workdir / "logs" / f"{writer_name(index)}.log"
        programs[writer_name(index)] = program(f"{PY} -u {WRITER} {pause}", **options)
    return build_config(
        workdir,
        programs,
        unix_socket=True,
        supervisord=supervisord,
        extra={"supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"}},
    )


def writer_log(workdir: Path, index: int) -> Path:
    name = writer_name(index)
    if index % 2:
        return workdir / "logs" / f"{name}.log"
    found = sorted((workdir / "childlogs").glob(f"{name}-stdout---*.log"))
    assert len(found) == 1, f"one AUTO log of {name} expected, found {found}"
    return found[0]


def stock_status(conf: Path) -> dict[str, tuple[str, int]]:
    """name -> (state, pid) as stock supervisorctl prints them (running processes)."""
    result = run_ctl("stock", "status", conf=conf)
    return {m[1]: (m[2], int(m[3])) for m in STATUS_LINE.finditer(result.stdout)}


def all_running(conf: Path, count: int) -> dict[str, tuple[str, int]] | None:
    """stock_status once ``count`` processes are all RUNNING, else None (for wait_until)."""
    status = stock_status(conf)
    if len(status) == count and all(state == "RUNNING" for state, _ in status.values()):
        return status
    return None


class Poller:
    """A stock XML-RPC client calling supervisor.getState over a fresh connection again
    and again in a thread: every failure and the slowest answer are kept."""

    def __init__(self, sock: Path) -> None:
        self.sock = sock
        self.failures: list[str] = []
        self.calls = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                state = unix_proxy(self.sock).supervisor.getState()
                assert state["statename"] == "RUNNING", state
            except (OSError, xmlrpc.client.Error, AssertionError) as error:
                self.failures.append(repr(error))
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.calls += 1
