"""depends_on with real daemons (ours): the order is observed in the programs' own start
timestamps (each writes time.time() as it starts), through boot, start, start all and update;
dependency_stop's three effects; a FATAL dependency; and stock 4.3.0 running the same file
(it ignores the keys and starts everything by priority)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ctl.ctlrun import run_ctl
from tests.harness import Daemon, child_cmd, program, stays_true, wait_file, wait_until

from .health_fixtures import (
    config,
    free_port,
    info,
    ours_daemons,
    rpc,
    server_cmd,
    status_line,
    wait_state,
)


@pytest.fixture
def ours(workdir: Path) -> Iterator[Callable[[str], Daemon]]:
    yield from ours_daemons(workdir)


def started_at(workdir: Path, name: str) -> float:
    """When program ``name`` started, as it wrote it itself."""
    return float(wait_file(workdir / f"{name}.started").split()[1])


def server(workdir: Path, name: str, *options: object, **keys: object) -> dict[str, object]:
    """A tcp check server named ``name``: ready (readycheck) once it listens."""
    port = free_port()
    return program(
        server_cmd("tcp", port, "--started", workdir / f"{name}.started", *options),
        readycheck=f"tcp://127.0.0.1:{port}",
        readycheck_interval=0.1,
        **keys,
    )


def ctl(workdir: Path, *args: str) -> str:
    return run_ctl("ours", *args, conf=workdir / "supervisord.conf").stdout


def test_boot_starts_each_program_after_what_it_depends_on_is_ready(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    flag = workdir / "db-may-listen"
    programs = {
        # Priorities say the opposite order: depends_on wins.
        "db": server(workdir, "db", "--after", flag, priority=30),
        "api": server(workdir, "api", depends_on="db", priority=20),
        "web": program(
            server_cmd("tcp", free_port(), "--started", workdir / "web.started"),
            depends_on="api",
            priority=10,
        ),
    }
    daemon = ours(config(workdir, programs))
    db = started_at(workdir, "db")
    daemon.wait_log(r"INFO waiting: web waits for api")
    daemon.wait_log(r"INFO waiting: api waits for db")
    # db is RUNNING but not ready: nothing that depends on it starts.
    wait_state(workdir, "db", "RUNNING")
    stays_true(lambda: not (workdir / "api.started").exists(), 1.0, "api waits")
    assert status_line(workdir, "api").endswith("Not started, waiting for db")
    assert rpc(workdir).runtime.getProcessHealth("web")["waiting_for"] == ["api"]

    ready_from = time.time()
    flag.write_text("go")
    api, web = started_at(workdir, "api"), started_at(workdir, "web")
    assert db < ready_from < api < web
    ready_api = daemon.wait_log(r"INFO ready: api \(")
    log = daemon.mainlog_text()
    assert log.index("INFO ready: db") < log.index("spawned: 'api'")
    assert ready_api.start() < log.index("spawned: 'web'")
    wait_state(workdir, "web", "RUNNING")


def test_start_and_start_all_start_dependencies_first(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    programs = {
        "pool": program(
            server_cmd("tcp", 0, "--started", workdir / "pool_%(process_num)s.started"),
            numprocs=2,
            process_name="pool_%(process_num)s",
            autostart=False,
        ),
        "app": program(
            server_cmd("tcp", free_port(), "--started", workdir / "app.started"),
            depends_on="pool",  # the group: both copies
            autostart=False,
        ),
    }
    daemon = ours(config(workdir, programs))
    wait_until(lambda: ctl(workdir, "status").count("STOPPED") == 3, 20, "all stopped")

    out = ctl(workdir, "start", "app")
    assert out.strip() == "app: started"
    pools = [started_at(workdir, f"pool_{n}") for n in (0, 1)]
    assert started_at(workdir, "app") > max(pools)
    # Without a readycheck, ready means RUNNING (startsecs=1 after each spawn).
    log = daemon.mainlog_text()
    running = [log.index(f"success: pool_{n} entered RUNNING") for n in (0, 1)]
    assert max(running) < log.index("spawned: 'app'")
    assert info(workdir, "app")["statename"] == "RUNNING"

    ctl(workdir, "stop", "all")
    for path in workdir.glob("*.started"):
        path.unlink()
    lines = ctl(workdir, "start", "all").strip().splitlines()
    assert sorted(lines) == ["app: started", "pool:pool_0: started", "pool:pool_1: started"]
    assert started_at(workdir, "app") >= max(started_at(workdir, f"pool_{n}") for n in (0, 1))


def test_update_adds_programs_in_dependency_order(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    flag = workdir / "cache-may-listen"
    daemon = ours(config(workdir, {"other": program(child_cmd("sleep"))}))
    wait_state(workdir, "other", "RUNNING")
    programs = {
        "other": program(child_cmd("sleep")),
        "a_front": server(workdir, "a_front", depends_on="cache"),  # sorted first by update
        "cache": server(workdir, "cache", "--after", flag),
    }
    daemon.write_config(config(workdir, programs))
    out = ctl(workdir, "update")
    assert "a_front: added process group" in out and "cache: added process group" in out
    cache = started_at(workdir, "cache")
    stays_true(lambda: not (workdir / "a_front.started").exists(), 1.0, "a_front waits")
    ready_from = time.time()
    flag.write_text("go")
    assert cache < ready_from < started_at(workdir, "a_front")


def test_dependency_stop_leave_stop_and_restart(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    programs = {
        "base": server(workdir, "base"),
        "kept": program(child_cmd("sleep"), depends_on="base", startsecs=0),
        "stopped": program(
            child_cmd("sleep"), depends_on="base", dependency_stop="stop", startsecs=0
        ),
        "restarted": program(
            child_cmd("sleep"), depends_on="base", dependency_stop="restart", startsecs=0
        ),
    }
    daemon = ours(config(workdir, programs))
    pids = {name: wait_state(workdir, name, "RUNNING")["pid"] for name in programs}

    ctl(workdir, "stop", "base")
    wait_state(workdir, "stopped", "STOPPED")
    wait_state(workdir, "restarted", "STOPPED")
    daemon.wait_log(r"WARN stopping stopped: it depends on base, which left RUNNING")
    daemon.wait_log(r"WARN restarting restarted: it depends on base, which left RUNNING")
    assert info(workdir, "kept")["pid"] == pids["kept"]
    assert status_line(workdir, "restarted").endswith("waiting for base")

    ctl(workdir, "start", "base")
    again = wait_state(workdir, "restarted", "RUNNING")["pid"]
    assert again != pids["restarted"]
    stays_true(lambda: info(workdir, "stopped")["statename"] == "STOPPED", 1.0, "stays stopped")
    assert info(workdir, "kept")["pid"] == pids["kept"]

    # restart: the dependency leaves RUNNING and comes back; so does its dependent.
    ctl(workdir, "restart", "base")
    wait_until(lambda: info(workdir, "restarted")["pid"] not in (again, 0), 20, "restarted again")
    assert info(workdir, "kept")["pid"] == pids["kept"]


def test_a_fatal_dependency_calls_the_start_off(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    programs = {
        "broken": program(child_cmd("exit", 1), startretries=0, autostart=False),
        "app": program(child_cmd("sleep"), depends_on="broken", autostart=False),
    }
    daemon = ours(config(workdir, programs))
    wait_state(workdir, "app", "STOPPED")
    out = ctl(workdir, "start", "app")
    assert out.strip() == "app: ERROR (abnormal termination)"
    daemon.wait_log(r"WARN not starting app: broken is FATAL")
    assert info(workdir, "app")["statename"] == "STOPPED"


def test_stopping_a_waiting_program_calls_its_start_off(
    ours: Callable[[str], Daemon], workdir: Path
) -> None:
    programs = {
        "base": server(workdir, "base", "--after", workdir / "never"),
        "app": program(child_cmd("sleep"), depends_on="base"),
    }
    ours(config(workdir, programs))
    wait_until(lambda: "waiting for base" in status_line(workdir, "app"), 20, "app waits")
    assert ctl(workdir, "stop", "app").strip() == "app: stopped"
    assert "waiting" not in status_line(workdir, "app")


@pytest.mark.stock
def test_stock_runs_the_same_file_ignoring_the_keys(workdir: Path) -> None:
    programs = {
        "db": server(workdir, "db", healthcheck="tcp://127.0.0.1:1", healthcheck_failures=1),
        "api": server(workdir, "api", depends_on="db", dependency_stop="restart"),
    }
    daemon = Daemon("stock", workdir, config(workdir, programs))
    try:
        for name in programs:
            wait_state(workdir, name, "RUNNING")
        assert "runtime.getProcessHealth" not in rpc(workdir).system.listMethods()
    finally:
        daemon.cleanup()
