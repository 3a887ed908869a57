"""Readiness and liveness checks with real daemons and real servers (ours only: stock has
no checks; tests/unit/config/test_check_keys.py shows stock loads the keys and ignores them).

Each readiness kind is shown not ready while its server does not listen yet, and ready once
it does; a hung HTTP server (Python's http.server, wedged by SIGUSR1) is killed and
restarted by its health check, with the reason in the main log.
"""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import Daemon, pid_alive, program, stays_true, wait_until

from .health_fixtures import (
    config,
    free_port,
    health,
    info,
    ours_daemons,
    rpc,
    server_cmd,
    status_line,
    wait_health,
    wait_state,
)

FAST = {"readycheck_interval": 0.1, "readycheck_timeout": 1}


@pytest.fixture
def ours(workdir: Path) -> Iterator[Callable[[str], Daemon]]:
    yield from ours_daemons(workdir)


def readiness_program(kind: str, workdir: Path, flag: Path) -> dict[str, object]:
    """A program that becomes ready (for its kind of check) once ``flag`` exists."""
    if kind == "command":
        return program(server_cmd("tcp", free_port()), readycheck=f"command:test -e {flag}")
    if kind == "unix":
        path = workdir / "app.sock"
        return program(
            server_cmd("unix", path, "--after", flag), readycheck=f"unix://{path}", **FAST
        )
    port = free_port()
    target = f"tcp://127.0.0.1:{port}" if kind == "tcp" else f"http://127.0.0.1:{port}/health"
    return program(server_cmd(kind, port, "--after", flag), readycheck=target, **FAST)


@pytest.mark.parametrize("kind", ["tcp", "unix", "http", "command"])
def test_each_kind_is_not_ready_until_the_program_answers(
    ours: Callable[[str], Daemon], workdir: Path, kind: str
) -> None:
    flag = workdir / "go"
    daemon = ours(config(workdir, {"app": readiness_program(kind, workdir, flag)}))
    wait_state(workdir, "app", "RUNNING")
    # RUNNING (startsecs passed) is not ready: the server does not listen yet.
    stays_true(lambda: not health(workdir, "app")["ready"], 1.0, "app not ready")
    assert status_line(workdir, "app").endswith(", not ready")
    assert health(workdir, "app")["last_check"]  # why it is not ready, e.g. refused

    flag.write_text("go")
    found = wait_health(workdir, "app", lambda h: h["ready"], "ready")
    assert found["readycheck"].startswith({"command": "command:"}.get(kind, f"{kind}://"))
    line = status_line(workdir, "app")
    assert line.split()[1] == "RUNNING" and line.endswith(", ready")
    assert " pid " in line and "uptime " in line  # the stock description is kept before it
    daemon.wait_log(r"INFO ready: app \(")


def test_http_status_must_be_an_expected_one(ours: Callable[[str], Daemon], workdir: Path) -> None:
    port = free_port()
    check = {"readycheck": f"http://127.0.0.1:{port}/", "readycheck_status": 204, **FAST}
    ours(config(workdir, {"app": program(server_cmd("http", port), **check)}))
    found = wait_health(
        workdir, "app", lambda h: h["last_check"] == "status 200, expected 204", "a 200"
    )
    assert not found["ready"]


def test_stock_fields_and_programs_without_checks_are_unchanged(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    port = free_port()
    programs = {
        "plain": program(server_cmd("tcp", free_port())),
        "app": program(server_cmd("tcp", port), readycheck=f"tcp://127.0.0.1:{port}", **FAST),
    }
    ours(config(workdir, programs))
    wait_health(workdir, "app", lambda h: h["ready"], "ready")
    wait_state(workdir, "plain", "RUNNING")
    app = info(workdir, "app")
    assert app["description"].startswith("pid ") and "ready" not in app["description"]
    assert "plain" not in [h["name"] for h in rpc(workdir).runtime.getAllProcessHealth()]
    assert "ready" not in status_line(workdir, "plain")
    methods = rpc(workdir).system.listMethods()
    assert {"runtime.getProcessHealth", "runtime.getAllProcessHealth"} <= set(methods)


def test_without_the_keys_no_runtime_methods(ours: Callable[[str], Daemon], workdir: Path) -> None:
    ours(config(workdir, {"plain": program(server_cmd("tcp", free_port()))}))
    wait_state(workdir, "plain", "RUNNING")
    assert not [m for m in rpc(workdir).system.listMethods() if m.startswith("runtime.")]


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def test_a_hung_http_server_is_killed_and_restarted(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    port = free_port()
    web = program(
        server_cmd("http", port),
        healthcheck=f"http://127.0.0.1:{port}/",
        healthcheck_interval=0.2,
        healthcheck_timeout=0.5,
        healthcheck_failures=3,
        healthcheck_startperiod=1,
        stopwaitsecs=1,
    )
    daemon = ours(config(workdir, {"web": web}))
    first = daemon.spawned_pid("web")
    wait_until(lambda: http_ok(port), 10, "the server answering")
    # Healthy: probes pass, nothing restarts it.
    stays_true(lambda: info(workdir, "web")["pid"] == first, 1.5, "web keeps its pid")
    assert "health check of web failed" not in daemon.mainlog_text()

    os.kill(first, signal.SIGUSR1)  # wedged: accepts, never answers
    daemon.wait_log(r"WARN health check of web failed \(1 of 3\): no answer within 0.5s")
    daemon.wait_log(r"WARN health check of web failed \(3 of 3\)")
    daemon.wait_log(r"WARN restarting web: health check failed: no answer within 0.5s")
    offset = daemon.mainlog_text().index("restarting web:")
    second = daemon.spawned_pid("web", start=offset)
    assert second != first
    wait_until(lambda: not pid_alive(first), 10, "the hung server gone")
    wait_until(lambda: http_ok(port), 10, "the new server answering")
    assert wait_state(workdir, "web", "RUNNING")["pid"] == second
    wait_health(workdir, "web", lambda h: h["failures"] == 0, "failures reset")


def test_a_failing_command_check_says_why(ours: Callable[[str], Daemon], workdir: Path) -> None:
    check = {
        "healthcheck": "command:sh -c 'echo database is gone; exit 3'",
        "healthcheck_interval": 0.2,
        "healthcheck_failures": 2,
    }
    daemon = ours(config(workdir, {"app": program(server_cmd("tcp", free_port()), **check)}))
    daemon.wait_log(
        r"restarting app: health check failed: the check exit status 3: database is gone"
    )


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a program as another user")
def test_a_unix_check_of_another_users_program_never_connects_as_root(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    """The path is the program's to choose: the connect happens in a child running as the
    program's user, never in the daemon (root). Here only root may reach the socket."""
    workdir.chmod(0o755)
    private = workdir / "private"
    private.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(private / "root-only.sock"))
    listener.listen(8)
    listener.setblocking(False)
    check = {"readycheck": f"unix://{private}/root-only.sock", **FAST}
    app = program("/bin/sleep 1000", user="nobody", directory="/", **check)
    try:
        ours(config(workdir, {"app": app}))
        wait_state(workdir, "app", "RUNNING")
        stays_true(lambda: not health(workdir, "app")["ready"], 1.0, "never ready")
        assert health(workdir, "app")["last_check"]  # it was probed, and failed
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected
    finally:
        listener.close()
