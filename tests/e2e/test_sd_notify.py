"""sd_notify under a real unix datagram socket, listened on as systemd would: READY once
the autostart programs left STARTING, STATUS counts, RELOADING/READY around reload and
live upgrade (same MAINPID), STOPPING at shutdown; programs never see NOTIFY_SOCKET."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ctl.ctlrun import run_ctl
from tests.harness import (
    StartDaemon,
    build_config,
    child_cmd,
    ours_only,
    proc_environ,
    program,
)

SOCKET_NAMES = ("abstract", "path")


class FakeSystemd:
    """The notify socket, bound and read as systemd does."""

    def __init__(self, address: str, bind_to: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.received: list[dict[str, str]] = []

    def next_with(self, key: str, value: str | None = None, timeout: float = 20) -> dict[str, str]:
        """The next datagram carrying ``key`` (with ``value`` if given); those before it
        are kept in ``received``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {key} within {timeout}s; got {self.received}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.received.append(fields)
            if key in fields and value in (None, fields[key]):
                return fields


@pytest.fixture(params=SOCKET_NAMES)
def systemd(request: pytest.FixtureRequest, workdir: Path) -> Iterator[FakeSystemd]:
    if request.param == "abstract":
        name = f"sv-notify-{uuid.uuid4().hex}"
        fake = FakeSystemd(f"@{name}", f"\0{name}")
    else:
        path = str(workdir / "notify.sock")
        fake = FakeSystemd(path, path)
    yield fake
    fake.sock.close()


def _config(workdir: Path) -> str:
    return build_config(
        workdir,
        {
            "slow": program(child_cmd("sleep"), startsecs=2),
            "fast": program(child_cmd("sleep"), startsecs=0),
            "manual": program(child_cmd("sleep"), autostart=False),
        },
        unix_socket=True,
        extra={"supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"}},
    )


def test_ready_status_reload_upgrade_and_stopping(
    impl: str, start_daemon: StartDaemon, workdir: Path, systemd: FakeSystemd
) -> None:
    ours_only(impl, "sd_notify is ours (stock supervisord never writes to NOTIFY_SOCKET)")
    env = dict(os.environ, NOTIFY_SOCKET=systemd.address)
    daemon = start_daemon(_config(workdir), env=env)
    ready = systemd.next_with("READY")
    # Not before slow (startsecs=2) was RUNNING.
    assert "success: slow entered RUNNING state" in daemon.mainlog_text()
    assert ready["READY"] == "1" and ready["MAINPID"] == str(daemon.pid)
    assert ready["STATUS"] == "3 processes: 1 STOPPED, 2 RUNNING"
    assert [m for m in systemd.received if "READY" in m] == [ready]
    fast = int(daemon.wait_log(r"spawned: 'fast' with pid (\d+)").group(1))
    assert "NOTIFY_SOCKET" not in proc_environ(fast)

    run_ctl("ours", "stop", "fast", conf=daemon.conf_path)
    systemd.next_with("STATUS", "3 processes: 1 STOPPED, 1 RUNNING, 1 STOPPING")
    systemd.next_with("STATUS", "3 processes: 2 STOPPED, 1 RUNNING")

    daemon.signal(signal.SIGHUP)
    reloading = systemd.next_with("RELOADING")
    assert int(reloading["MONOTONIC_USEC"]) > 0
    assert systemd.next_with("READY")["MAINPID"] == str(daemon.pid)

    assert run_ctl("ours", "upgrade", conf=daemon.conf_path).rc == 0
    assert systemd.next_with("RELOADING")["STATUS"] == "live upgrade"
    assert systemd.next_with("READY")["MAINPID"] == str(daemon.pid)

    daemon.signal(signal.SIGTERM)
    assert systemd.next_with("STOPPING")["STOPPING"] == "1"
    assert daemon.wait_exit() == 0


def test_a_bad_notify_socket_is_named(impl: str, start_daemon: StartDaemon, workdir: Path) -> None:
    ours_only(impl, "sd_notify is ours")
    env = dict(os.environ, NOTIFY_SOCKET="relative/notify.sock")
    daemon = start_daemon(_config(workdir), env=env)
    assert daemon.wait_exit() == 2
    assert "NOTIFY_SOCKET='relative/notify.sock' is neither a socket path nor an @abstract" in (
        daemon.output_text()
    )


def test_stock_runs_the_same_config_and_ignores_notify_socket(
    impl: str, start_daemon: StartDaemon, workdir: Path, systemd: FakeSystemd
) -> None:
    """No new key is needed: stock 4.3.0 loads and runs the config the tests above use."""
    env = dict(os.environ, NOTIFY_SOCKET=systemd.address)
    daemon = start_daemon(_config(workdir), env=env)
    daemon.wait_log(r"success: slow entered RUNNING state")
    status = run_ctl(impl, "status", conf=daemon.conf_path)
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        ["fast", "RUNNING"],
        ["manual", "STOPPED"],
        ["slow", "RUNNING"],
    ]
