"""[supervisord] history = true with real processes: each transition and its reason, as
runtime.getProcessHistory and `supervisorctl history` give them: an exit status, a signal,
the OOM killer (in a memory cgroup made here), a request over the unix socket (the
caller's uid and pid) or the inet socket (its user), a configuration change (update)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from supervisor_runtime.ctl.client import connect
from tests.ctl.ctlrun import ours_ctl, run_ctl
from tests.harness import build_config, child_cmd, ours_only, program, wait_until

SLEEPER = program(child_cmd("sleep"), startsecs=0)


def config(
    workdir: Path,
    programs: dict[str, dict[str, object]],
    *,
    history: bool = True,
    extra: dict[str, dict[str, object]] | None = None,
) -> str:
    return build_config(
        workdir,
        programs,
        supervisord={"history": True, "history_size": 30} if history else {},
        unix_socket=True,
        extra={
            "supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"},
            **(extra or {}),
        },
    )


def proxy(workdir: Path) -> Any:
    return connect(f"unix://{workdir}/supervisor.sock", timeout=20)


def transitions(workdir: Path, name: str) -> list[dict[str, Any]]:
    return proxy(workdir).runtime.getProcessHistory(name)["transitions"]


def wait_entry(workdir: Path, name: str, **wanted: object) -> dict[str, Any]:
    """The last transition of `name` whose fields include `wanted`, once there is one."""

    def found() -> dict[str, Any] | None:
        try:
            entries = transitions(workdir, name)
        except (OSError, xmlrpc.client.Fault):  # not listening yet, or reloading
            return None
        matching = [e for e in entries if all(e.get(k) == v for k, v in wanted.items())]
        return matching[-1] if matching else None

    return wait_until(found, 20, f"a transition of {name} with {wanted}")


def wait_state(workdir: Path, name: str, state: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        try:
            info = proxy(workdir).supervisor.getProcessInfo(name)
        except (OSError, xmlrpc.client.Fault):  # not listening yet, or reloading
            return None
        return info if info["statename"] == state else None

    return wait_until(reached, 20, f"{name} {state}")


def test_an_exit_status_and_a_signal_kill(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the history is ours")
    crash = program("/bin/sh -c 'sleep 0.5; exit 7'", startsecs=0, autorestart=False)
    start_daemon(config(workdir, {"crash": crash, "victim": SLEEPER}))
    entry = wait_entry(workdir, "crash", to="EXITED")
    assert entry["from"] == "RUNNING" and entry["reason"] == "exit"
    assert entry["exitstatus"] == 7
    assert entry["description"] == "exit status 7; not expected"

    pid = wait_state(workdir, "victim", "RUNNING")["pid"]
    os.kill(pid, signal.SIGKILL)
    entry = wait_entry(workdir, "victim", to="EXITED")
    assert (entry["reason"], entry["signal"], entry["pid"]) == ("signal", "SIGKILL", pid)
    assert entry["description"].startswith("terminated by SIGKILL")
    # autorestart (unexpected) brings it back, and says so
    restart = wait_entry(workdir, "victim", reason="autorestart")
    assert (restart["from"], restart["to"]) == ("EXITED", "STARTING")

    out = run_ctl("ours", "history", "crash", "victim", conf=workdir / "supervisord.conf")
    assert out.rc == 0, out
    assert "RUNNING -> EXITED" in out.stdout and "exit status 7; not expected" in out.stdout
    assert "terminated by SIGKILL" in out.stdout and "autorestart" in out.stdout
    out = run_ctl("ours", "history", "victim:*", "nope:*", conf=workdir / "supervisord.conf")
    assert out.rc == 1 and "terminated by SIGKILL" in out.stdout, out
    assert "nope: ERROR (no such group)" in out.stdout
    out = run_ctl("ours", "history", "all", conf=workdir / "supervisord.conf")
    assert out.rc == 0 and out.stdout.index("crash ") < out.stdout.index("victim "), out


STOP_CALL = (
    "<?xml version='1.0'?><methodCall><methodName>supervisor.stopProcess</methodName>"
    "<params><param><value><string>app</string></value></param></params></methodCall>"
)


def test_a_restart_over_the_unix_socket_names_the_callers_uid_and_pid(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the history is ours")
    socket_access = {"unix_http_server": {"file": workdir / "supervisor.sock", "chmod": "0777"}}
    start_daemon(config(workdir, {"app": SLEEPER}, extra=socket_access))
    wait_state(workdir, "app", "RUNNING")

    # supervisorctl restart (as root, the uid we run as): its pid and uid.
    ctl = subprocess.Popen(
        [str(ours_ctl()), "-c", str(workdir / "supervisord.conf"), "restart", "app"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = ctl.communicate(timeout=20)
    assert ctl.returncode == 0, output
    requester = {"via": "unix", "uid": os.getuid(), "pid": ctl.pid}
    stopping = wait_entry(workdir, "app", to="STOPPING")
    assert stopping["reason"] == "request" and stopping["requester"] == requester
    assert (
        f"stopProcess by uid {os.getuid()} (root), pid {ctl.pid} on the unix socket"
        in (stopping["description"])
    )
    stopped = wait_entry(workdir, "app", to="STOPPED")
    assert stopped["signal"] == "SIGTERM" and stopped["requester"] == requester
    starting = wait_entry(workdir, "app", to="STARTING", reason="request")
    assert starting["requester"] == requester and "startProcess" in starting["description"]
    wait_state(workdir, "app", "RUNNING")

    # Another uid: the kernel's word for it (SO_PEERCRED), not anything the client says.
    # (curl: our supervisorctl's Python lives where nobody may not read.)
    workdir.chmod(0o755)
    nobody = 65534
    curl = subprocess.Popen(
        [
            "curl",
            "-sS",
            "--unix-socket",
            str(workdir / "supervisor.sock"),
            "-H",
            "Content-Type: text/xml",
            "--data-binary",
            STOP_CALL,
            "http://localhost/RPC2",
        ],
        user=nobody,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = curl.communicate(timeout=20)
    assert curl.returncode == 0 and "<boolean>1</boolean>" in output, output
    entry = wait_entry(
        workdir, "app", to="STOPPING", requester={"via": "unix", "uid": nobody, "pid": curl.pid}
    )
    assert f"by uid {nobody} (nobody), pid {curl.pid} on the unix socket" in entry["description"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_restart_over_inet_with_a_login_names_the_user(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the history is ours")
    port = free_port()
    inet = {
        "inet_http_server": {"port": f"127.0.0.1:{port}", "username": "alice", "password": "s3cret"}
    }
    start_daemon(config(workdir, {"app": SLEEPER}, extra=inet))
    wait_state(workdir, "app", "RUNNING")
    remote = xmlrpc.client.ServerProxy(f"http://alice:s3cret@127.0.0.1:{port}/RPC2")
    assert remote.supervisor.stopProcess("app") is True
    assert remote.supervisor.startProcess("app") is True
    stopping = wait_entry(workdir, "app", to="STOPPING")
    assert stopping["requester"]["via"] == "inet"
    assert stopping["requester"]["user"] == "alice"
    assert stopping["requester"]["peer"].startswith("127.0.0.1:")
    assert "stopProcess by user alice from 127.0.0.1:" in stopping["description"]
    assert wait_entry(workdir, "app", to="STARTING", reason="request")["requester"]["user"] == (
        "alice"
    )
    # The same history over inet, by our supervisorctl with the login.
    out = run_ctl(
        "ours", "-s", f"http://127.0.0.1:{port}", "-u", "alice", "-p", "s3cret", "history", "app"
    )
    assert out.rc == 0 and "by user alice from 127.0.0.1" in out.stdout, out


def test_update_is_recorded_as_a_configuration_change(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the history is ours")
    daemon = start_daemon(config(workdir, {"app": SLEEPER}))
    first = wait_state(workdir, "app", "RUNNING")["pid"]
    changed = program(child_cmd("sleep"), startsecs=0, stopwaitsecs=2)
    daemon.write_config(config(workdir, {"app": changed}))
    out = run_ctl("ours", "update", conf=daemon.conf_path)
    assert out.rc == 0 and "app: updated process group" in out.stdout, out
    assert wait_state(workdir, "app", "RUNNING")["pid"] != first
    entries = transitions(workdir, "app")
    removed = next(e for e in entries if e["to"] == "REMOVED")
    added = next(e for e in entries if e["from"] == "REMOVED")
    assert removed["reason"] == added["reason"] == "config"
    assert "removed: configuration change: removeProcessGroup by uid 0" in removed["description"]
    assert "added: configuration change: addProcessGroup by uid 0" in added["description"]
    start = entries[entries.index(added) + 1]
    assert (start["to"], start["reason"]) == ("STARTING", "config")
    # the history from before the update is kept
    assert entries[0]["reason"] == "autostart" and entries[0]["pid"] == 0


def test_a_reload_is_named_and_keeps_the_history(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the history is ours")
    daemon = start_daemon(config(workdir, {"app": SLEEPER}))
    first = wait_state(workdir, "app", "RUNNING")["pid"]
    daemon.signal(signal.SIGHUP)
    entry = wait_entry(workdir, "app", to="STOPPING")
    assert (entry["reason"], entry["description"]) == ("reload", "supervisord reloading")
    assert wait_state(workdir, "app", "RUNNING")["pid"] != first
    entries = transitions(workdir, "app")
    assert [e["to"] for e in entries] == [
        "STARTING",
        "RUNNING",
        "STOPPING",
        "STOPPED",
        "STARTING",
        "RUNNING",
    ]
    assert entries[1]["pid"] == first


def test_ctl_history_help_and_a_daemon_without_history(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the command is ours")
    start_daemon(config(workdir, {"app": SLEEPER}, history=False))
    wait_state(workdir, "app", "RUNNING")
    conf = workdir / "supervisord.conf"
    out = run_ctl("ours", "history", "app", conf=conf)
    assert out.rc == 1 and "keeps no history" in out.stdout, out
    assert "runtime.getProcessHistory" not in proxy(workdir).system.listMethods()
    assert run_ctl("ours", "help", "history", conf=conf).stdout.startswith("history <name>")
    assert "history" not in run_ctl("ours", "help", conf=conf).stdout  # stock's index
    out = run_ctl("ours", "history", conf=conf)
    assert out.rc == 2 and out.stdout.startswith("Error: history requires a process name")


# ----------------------------------------------------------------------------- OOM

HOG = "import sys; sys.stdout.write('hog\\n'); sys.stdout.flush(); x = b'x' * (512 << 20)"


def memory_cgroup(limit_mb: int):  # type: ignore[no-untyped-def]
    """A memory cgroup made as the project makes them (workers/container/cgroups.py)."""
    cgroups = pytest.importorskip("workers.container.cgroups")
    from workers.container.spec import Limits

    try:
        hierarchy = cgroups.detect()
    except cgroups.CgroupError as error:
        pytest.skip(f"no memory cgroup on this machine: {error}")
    if os.geteuid() != 0:
        pytest.skip("making a cgroup needs root")
    cgroup = hierarchy.cgroup(f"hist-{uuid.uuid4().hex[:8]}", group="supervisor-runtime-tests")
    try:
        cgroup.create(Limits(memory_mb=limit_mb, pids=256))
    except cgroups.CgroupError as error:
        pytest.skip(f"cannot make a memory cgroup here: {error}")
    return cgroup


def test_an_oom_kill_in_a_memory_cgroup(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the history is ours")
    cgroup = memory_cgroup(limit_mb=200)
    try:
        # The daemon joins the cgroup before it execs, so its children start there; it
        # shields itself from the OOM killer (-1000), which then picks the hog.
        procs = " ".join(f"{p}/cgroup.procs" for p in cgroup.paths())
        join = (
            f'for f in {procs}; do echo $$ > "$f"; done; '
            'echo -1000 > /proc/self/oom_score_adj; exec "$@"'
        )
        hog = program(f'{sys.executable} -c "{HOG}"', startsecs=0, autorestart=False)
        start_daemon(config(workdir, {"hog": hog}), wrapper=["/bin/sh", "-c", join, "sh"])
        entry = wait_entry(workdir, "hog", to="EXITED")
        assert entry["signal"] == "SIGKILL", entry
        assert entry["reason"] == "oom", entry
        assert entry["description"].startswith("killed by the kernel's OOM killer"), entry
        out = run_ctl("ours", "history", "hog", conf=workdir / "supervisord.conf")
        assert "oom" in out.stdout and "OOM killer" in out.stdout, out
    finally:
        cgroup.remove()
        for directory in {Path(p).parent for p in cgroup.paths()}:
            try:
                directory.rmdir()
            except OSError:
                pass


def test_a_failed_health_check_is_the_cause_of_the_restart(
    impl: str, start_daemon, workdir: Path
) -> None:
    """The liveness check's restart (restarts.restart_process) is recorded with its reason,
    which stays the cause of the stop and the start that follow."""
    ours_only(impl, "the history and the health checks are ours")
    check = {
        "healthcheck": "command:sh -c 'echo database is gone; exit 3'",
        "healthcheck_interval": 0.2,
        "healthcheck_failures": 2,
    }
    start_daemon(config(workdir, {"app": program(child_cmd("sleep"), startsecs=0, **check)}))
    first = wait_state(workdir, "app", "RUNNING")["pid"]
    reason = "health check failed: the check exit status 3: database is gone"
    started = wait_entry(workdir, "app", reason="health", **{"from": "STOPPED", "to": "STARTING"})
    health = [e for e in transitions(workdir, "app") if e["reason"] == "health"]
    steps = [(e["from"], e["to"]) for e in health[: health.index(started) + 1]]
    assert steps == [
        ("RUNNING", "RUNNING"),  # the cause, noted when the check gave up
        ("RUNNING", "STOPPING"),
        ("STOPPING", "STOPPED"),
        ("STOPPED", "STARTING"),
    ], health
    assert health[0]["pid"] == first and health[0]["description"] == reason
