"""Live upgrade (supervisorctl upgrade, runtime.liveUpgrade, SIGUSR1): the daemon
re-executes itself and every child keeps running, with its pipes, its pid and its log.

Real daemons, real children (numbered writers), stock supervisorctl and a stock XML-RPC
client watching from outside.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.ctl.ctlrun import run_ctl
from tests.e2e.upgrade_helpers import (
    Poller,
    all_running,
    stock_status,
    writer_log,
    writer_name,
    writers_config,
)
from tests.harness import (
    PY,
    Daemon,
    StartDaemon,
    build_config,
    child_cmd,
    children_of,
    ours_only,
    pid_alive,
    program,
    wait_until,
)
from tests.rpc.conftest import unix_proxy

COUNT = 100


def _start_writers(
    start_daemon: StartDaemon, workdir: Path, count: int, **kwargs: object
) -> tuple[Daemon, dict[str, tuple[str, int]]]:
    daemon = start_daemon(writers_config(workdir, count), **kwargs)
    before = wait_until(
        lambda: all_running(daemon.conf_path, count), 60, f"{count} writers RUNNING"
    )
    return daemon, before


def _assert_every_line_once(workdir: Path, count: int) -> int:
    """Each writer's log holds 0, 1, 2, ... with no gap, no repeat, no partial line."""
    total = 0
    for index in range(count):
        text = writer_log(workdir, index).read_text()
        assert text.endswith("\n"), f"{writer_name(index)}: a partial last line"
        numbers = [int(line) for line in text.splitlines()]
        assert numbers == list(range(len(numbers))), (
            f"{writer_name(index)}: lines lost or repeated around "
            f"{next(i for i, n in enumerate(numbers) if n != i)}"
        )
        total += len(numbers)
    return total


def test_hundred_writers_keep_their_pids_and_every_line_is_logged_once(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "live upgrade is ours")
    daemon, before = _start_writers(start_daemon, workdir, COUNT)
    conf = daemon.conf_path
    assert sorted(pid for _, pid in before.values()) == children_of(daemon.pid)
    with Poller(workdir / "supervisor.sock") as poller:
        wait_until(lambda: poller.calls >= 5, 20, "the stock client answered before")
        upgraded = run_ctl("ours", "upgrade", conf=conf)
        assert upgraded.rc == 0, upgraded
        assert upgraded.stdout.startswith(f"Upgraded supervisord in place: pid {daemon.pid}")
        calls = poller.calls
        wait_until(lambda: poller.calls >= calls + 5, 20, "the stock client answered after")
    assert poller.failures == [], poller.failures
    assert daemon.returncode is None
    daemon.wait_log(
        rf"upgraded in place with pid {daemon.pid}: release \S+ -> \S+ \(live upgrade 1\)"
    )
    daemon.wait_log(rf"live upgrade: {COUNT} running children adopted")
    # The same processes, in the same states, still children of the same daemon.
    assert stock_status(conf) == before
    assert sorted(pid for _, pid in before.values()) == children_of(daemon.pid)
    # They write on into the same files, through the new daemon.
    sizes = [writer_log(workdir, index).stat().st_size for index in range(COUNT)]
    wait_until(
        lambda: all(
            writer_log(workdir, index).stat().st_size > sizes[index] for index in range(COUNT)
        ),
        20,
        "every writer's log to grow after the upgrade",
    )
    stopped = run_ctl("stock", "stop", "all", conf=conf)
    assert stopped.rc == 0, stopped
    assert _assert_every_line_once(workdir, COUNT) > COUNT * 10
    # Reaped by the new daemon: stopped, with their exit seen.
    assert all(not pid_alive(pid) for _, pid in before.values())
    daemon.wait_log(rf"stopped: {writer_name(COUNT - 1)} \(terminated by SIGTERM\)")


def test_sigusr1_upgrades_in_place(impl: str, start_daemon: StartDaemon, workdir: Path) -> None:
    ours_only(impl, "SIGUSR1 is ours; stock supervisord leaves it at its default (exit)")
    daemon, before = _start_writers(start_daemon, workdir, 3)
    daemon.signal(signal.SIGUSR1)
    daemon.wait_log(r"live upgrade requested by signal SIGUSR1")
    daemon.wait_log(r"live upgrade: 3 running children adopted")
    assert stock_status(daemon.conf_path) == before
    # A second upgrade of the upgraded daemon.
    assert run_ctl("ours", "upgrade", conf=daemon.conf_path).rc == 0
    daemon.wait_log(r"\(live upgrade 2\)")
    assert stock_status(daemon.conf_path) == before
    # A stock config: system.listMethods stays stock's, the methods are callable.
    proxy = unix_proxy(workdir / "supervisor.sock")
    assert not [name for name in proxy.system.listMethods() if name.startswith("runtime.")]
    assert proxy.runtime.getDaemonInfo()["generation"] == 2


def test_a_broken_or_unapplied_config_refuses_and_changes_nothing(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "live upgrade is ours")
    daemon, before = _start_writers(start_daemon, workdir, 3)
    conf = daemon.conf_path
    good = conf.read_text()
    cases = [
        ("[program:w000]\nstartsecs=soon\n", "the configuration is invalid"),
        ("[program:extra]\ncommand=/bin/true\n", "program changes not applied yet (added: extra)"),
    ]
    for addition, reason in cases:
        conf.write_text(good + "\n" + addition)
        refused = run_ctl("ours", "upgrade", conf=conf)
        assert refused.rc == 1, refused
        assert refused.stdout.startswith("ERROR: FAILED: upgrade refused: "), refused.stdout
        assert reason in refused.stdout
        assert daemon.returncode is None
        assert stock_status(conf) == before
    assert "re-executing" not in daemon.mainlog_text()


def _entry_daemon(start_daemon: StartDaemon, workdir: Path, count: int) -> tuple[Daemon, Path]:
    """A daemon started through an entry script in `workdir`: the test replaces the
    script to stand for a newly installed release."""
    entry = workdir / "entry.py"
    entry.write_text(ENTRY)
    daemon, _ = _start_writers(start_daemon, workdir, count, wrapper=[PY, str(entry)])
    return daemon, entry


# argv[1] is the supervisord the harness names (after the wrapper): this script stands in.
ENTRY = """\
import sys
from supervisor_runtime.cli.supervisord import main
sys.exit(main(sys.argv[2:]))
"""


def test_new_code_that_cannot_import_is_refused(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "live upgrade is ours")
    daemon, entry = _entry_daemon(start_daemon, workdir, 3)
    before = stock_status(daemon.conf_path)
    entry.write_text("import supervisor_runtime.not_in_this_release\n" + ENTRY)
    refused = run_ctl("ours", "upgrade", conf=daemon.conf_path)
    assert refused.rc == 1, refused
    assert "the new code failed its check (exit status 1)" in refused.stdout
    assert "ModuleNotFoundError" in refused.stdout
    assert daemon.returncode is None
    assert stock_status(daemon.conf_path) == before


def test_a_new_daemon_that_cannot_start_stops_its_children_no_orphan(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "live upgrade is ours")
    daemon, entry = _entry_daemon(start_daemon, workdir, 3)
    before = stock_status(daemon.conf_path)
    # Passes the check, then (as the new daemon) finds the config broken: the window
    # between the check and the exec, made certain.
    entry.write_text(
        "import os\n"
        "if 'SUPERVISOR_RUNTIME_HANDOVER_FD' in os.environ:\n"
        f"    open({str(daemon.conf_path)!r}, 'a').write('\\n[program:w000]\\nstartsecs=x\\n')\n"
        + ENTRY
    )
    gone = run_ctl("ours", "upgrade", conf=daemon.conf_path)
    assert gone.rc == 1, gone
    assert gone.stdout.startswith("ERROR: supervisord is gone: the new code could not start")
    assert daemon.wait_exit(30) == 2
    assert "live upgrade abandoned, every child stopped" in daemon.output_text()
    assert "CRIT live upgrade abandoned, every child stopped: " in daemon.mainlog_text()
    assert daemon.leftover_pids() == []
    assert all(not pid_alive(pid) for _, pid in before.values())
    assert not (workdir / "supervisord.pid").exists()


def test_an_event_listener_keeps_its_protocol_state_and_serials(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "live upgrade is ours")
    events = workdir / "events.jsonl"
    listener = Path(__file__).resolve().parents[1] / "events" / "recorder_listener.py"
    conf = build_config(
        workdir,
        {"app": program(child_cmd("sleep"), startsecs=0)},
        unix_socket=True,
        extra={
            "eventlistener:rec": {
                "command": f"{PY} {listener} {events}",
                "events": "PROCESS_STATE",
            },
            "supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"},
        },
    )
    daemon = start_daemon(conf)
    before = wait_until(lambda: all_running(daemon.conf_path, 2), 30, "app and rec RUNNING")

    def received() -> list[dict[str, object]]:
        return [json.loads(line) for line in events.read_text().splitlines()]

    wait_until(
        lambda: (
            events.exists()
            and any(r["headers"]["eventname"] == "PROCESS_STATE_RUNNING" for r in received())
        ),
        20,
        "the listener heard app start",
    )
    assert run_ctl("ours", "upgrade", conf=daemon.conf_path).rc == 0
    assert stock_status(daemon.conf_path) == before
    seen = len(received())
    assert run_ctl("stock", "stop", "app", conf=daemon.conf_path).rc == 0
    wait_until(
        lambda: any(r["headers"]["eventname"] == "PROCESS_STATE_STOPPED" for r in received()),
        20,
        "the same listener to hear app stop after the upgrade",
    )
    after = received()[seen:]
    assert [r["headers"]["eventname"] for r in after] == [
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE_STOPPED",
    ]
    serials = [int(r["headers"]["serial"]) for r in received()]
    pool_serials = [int(r["headers"]["poolserial"]) for r in received()]
    assert serials == sorted(set(serials)) and pool_serials == sorted(set(pool_serials))
    assert stock_status(daemon.conf_path)["rec"] == before["rec"]


def test_a_daemonized_supervisord_with_a_relative_config_upgrades(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    """Daemonized (a forked pid, cwd moved by directory=), started with a relative -c: the
    exec runs from the directory it started in, the pid stays the pidfile's."""
    ours_only(impl, "live upgrade is ours")
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    conf = writers_config(workdir, 3, nodaemon=False, directory=elsewhere)
    daemon = start_daemon(conf, use_c=False, args=["-c", "supervisord.conf"], cwd=workdir)
    assert daemon.wait_exit() == 0  # the parent of the fork
    pidfile = workdir / "supervisord.pid"
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 20, "pid"))
    before = wait_until(lambda: all_running(daemon.conf_path, 3), 30, "3 writers RUNNING")
    upgraded = run_ctl("ours", "upgrade", conf=daemon.conf_path)
    assert upgraded.rc == 0, upgraded
    assert upgraded.stdout.startswith(f"Upgraded supervisord in place: pid {pid},")
    assert stock_status(daemon.conf_path) == before
    assert int(pidfile.read_text()) == pid
    assert os.readlink(f"/proc/{pid}/cwd") == str(elsewhere)
    assert sorted(p for _, p in before.values()) == children_of(pid)
    assert run_ctl("ours", "shutdown", conf=daemon.conf_path).rc == 0
    wait_until(lambda: not pid_alive(pid), 20, "the daemon to exit")


def test_restart_history_and_health_checks_carry_over(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    """history (ours) and readycheck/healthcheck (ours): the transitions and the
    readiness found before the upgrade stay; the liveness check runs on after it (a check
    that starts failing then restarts the program)."""
    ours_only(impl, "live upgrade, history and health checks are ours")
    sick = workdir / "sick"
    conf = build_config(
        workdir,
        {
            "app": program(
                child_cmd("sleep"),
                startsecs=0,
                readycheck="command:/bin/true",
                readycheck_interval=1,
                healthcheck=f"command:/bin/sh -c 'test ! -e {sick}'",
                healthcheck_interval=1,
                healthcheck_failures=1,
            )
        },
        supervisord={"history": True},
        unix_socket=True,
        extra={"supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"}},
    )
    daemon = start_daemon(conf)
    wait_until(lambda: all_running(daemon.conf_path, 1), 20, "app RUNNING")
    proxy = unix_proxy(workdir / "supervisor.sock")
    wait_until(lambda: proxy.runtime.getProcessHealth("app")["ready"], 20, "app ready")
    before = proxy.runtime.getProcessHistory("app")["transitions"]
    # Our keys in use: runtime.* is served, the upgrade's methods listed with it.
    assert {"runtime.liveUpgrade", "runtime.getDaemonInfo"} <= set(proxy.system.listMethods())
    pid = stock_status(daemon.conf_path)["app"][1]
    assert run_ctl("ours", "upgrade", conf=daemon.conf_path).rc == 0
    proxy = unix_proxy(workdir / "supervisor.sock")
    assert proxy.runtime.getProcessHistory("app")["transitions"] == before
    assert proxy.runtime.getProcessHealth("app")["ready"] is True
    assert stock_status(daemon.conf_path)["app"] == ("RUNNING", pid)
    sick.touch()
    daemon.wait_log(r"health check of app failed", timeout=20)
    restarted = wait_until(
        lambda: (s := stock_status(daemon.conf_path).get("app")) and s[1] != pid and s,
        20,
        "app restarted by its health check after the upgrade",
    )
    assert restarted[0] in ("RUNNING", "STARTING")
