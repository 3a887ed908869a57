"""Every XML-RPC method, against stock supervisord 4.3.0 and ours: same shapes, same faults."""

from __future__ import annotations

import re
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from supervisor_runtime import VERSION
from tests.harness import child_cmd, program, wait_until
from tests.rpc.conftest import Pair, UnixConnection, normalize

PROGRAMS = {
    "app": program(child_cmd("sleep")),
    "cat": program("cat", startsecs=0),
    "quick": program(child_cmd("exit", 1), autostart=False, startretries=0),
    "missing": program("/nonexistent/bin/thing", autostart=False),
    "grp": program(child_cmd("sleep"), numprocs=2, process_name="%(program_name)s_%(process_num)d"),
}


def run_both(sides: Pair, calls: list[tuple[Any, ...]], sort: bool = False) -> None:
    """Each (method, *args) on both daemons in turn; normalized results must be equal."""
    for method, *args in calls:
        answers = {}
        for impl, side in sides.items():
            value = normalize(side.call(method, *args), side)
            if sort and isinstance(value, list):
                value = sorted(value, key=repr)
            answers[impl] = value
        if answers["ours"] != answers["stock"] and isinstance(answers["ours"], list):
            for mine, theirs in zip(answers["ours"], answers["stock"], strict=False):
                assert mine == theirs, f"{method}{tuple(args)}"
        assert answers["ours"] == answers["stock"], f"{method}{tuple(args)}"


@pytest.fixture
def sides(pair) -> Pair:
    sides = pair(PROGRAMS)
    for side in sides.values():
        for name in ("app", "grp:grp_0", "grp:grp_1"):
            side.wait_state(name, "RUNNING")
    return sides


def test_identity_state_and_introspection(sides: Pair) -> None:
    run_both(sides, [
        ("supervisor.getAPIVersion",),
        ("supervisor.getVersion",),
        ("supervisor.getIdentification",),
        ("supervisor.getState",),
        ("system.listMethods",),
        ("system.methodSignature", "nope"),
        ("system.methodHelp", "nope"),
        ("supervisor.nope",),
        ("supervisor.supervisord.options.execve", "/bin/sh", [], {}),
        ("supervisor._update", "x"),
        ("nope",),
        ("supervisor.getState", "extra"),
        ("supervisor.sendRemoteCommEvent", "type", "data"),
    ])
    for side in sides.values():
        assert isinstance(side.call("supervisor.getPID"), int)
    # The signature of every method matches (return and parameter types).
    names = sides["stock"].call("system.listMethods")
    run_both(sides, [("system.methodSignature", name) for name in names])



def test_version_is_stock_and_our_release_is_in_the_server_header(sides: Pair) -> None:
    """Clients pick features by getSupervisorVersion: ours answers as 4.3.0, and tells its
    own release only in the HTTP Server header, which no client parses."""
    run_both(sides, [("supervisor.getSupervisorVersion",)])
    assert sides["ours"].call("supervisor.getSupervisorVersion") == "4.3.0"
    for impl, side in sides.items():
        assert side.ctl("version") == (0, "4.3.0\n"), impl
    connection = UnixConnection(str(sides["ours"].sock))
    connection.request("GET", "/")
    assert connection.getresponse().getheader("Server") == f"supervisor_runtime/{VERSION}"
    connection.close()


def test_process_info_and_config_info(sides: Pair) -> None:
    run_both(sides, [
        ("supervisor.getAllProcessInfo",),
        ("supervisor.getProcessInfo", "app"),
        ("supervisor.getProcessInfo", "grp:grp_0"),
        ("supervisor.getProcessInfo", "grp:*"),
        ("supervisor.getProcessInfo", "nope"),
        ("supervisor.getProcessInfo", "grp:nope"),
        ("supervisor.getProcessInfo", "quick"),
        ("supervisor.getAllConfigInfo",),
    ])


def test_start_stop_and_faults(sides: Pair) -> None:
    run_both(sides, [
        ("supervisor.startProcess", "app"),
        ("supervisor.startProcess", "nope"),
        ("supervisor.startProcess", "missing"),
        ("supervisor.stopProcess", "app"),
        ("supervisor.getProcessInfo", "app"),
        ("supervisor.stopProcess", "app"),
        ("supervisor.startProcess", "app"),
        ("supervisor.getProcessInfo", "app"),
        ("supervisor.startProcess", "quick"),
        ("supervisor.stopProcess", "app", False),
    ])
    for side in sides.values():
        side.wait_state("app", "STOPPED")
        side.wait_state("quick", "FATAL")
    run_both(sides, [
        ("supervisor.getProcessInfo", "quick"),
        ("supervisor.startProcess", "app", False),
    ])
    for side in sides.values():
        side.wait_state("app", "RUNNING")
    run_both(sides, [
        ("supervisor.stopProcessGroup", "grp"),
        ("supervisor.stopProcessGroup", "grp"),
        ("supervisor.startProcess", "grp:*"),
        ("supervisor.stopProcess", "grp:*"),
        ("supervisor.startProcessGroup", "grp"),
        ("supervisor.startProcessGroup", "nope"),
    ], sort=True)
    run_both(sides, [
        ("supervisor.stopAllProcesses",),
        ("supervisor.getAllProcessInfo",),
        ("supervisor.startAllProcesses",),
    ], sort=True)


def test_signals(sides: Pair) -> None:
    run_both(sides, [
        ("supervisor.signalProcess", "app", "CONT"),
        ("supervisor.signalProcess", "app", "18"),
        ("supervisor.signalProcess", "app", "NOSUCH"),
        ("supervisor.signalProcess", "quick", "CONT"),
        ("supervisor.signalProcess", "nope", "CONT"),
        ("supervisor.signalProcessGroup", "grp", "CONT"),
        ("supervisor.signalProcessGroup", "grp", "NOSUCH"),
        ("supervisor.signalProcessGroup", "nope", "CONT"),
        ("supervisor.signalProcess", "grp:*", "CONT"),
        ("supervisor.signalAllProcesses", "CONT"),
    ])


def test_stdin_and_process_logs(sides: Pair) -> None:
    run_both(sides, [
        ("supervisor.sendProcessStdin", "cat", "hello\n"),
        ("supervisor.sendProcessStdin", "cat", 5),
        ("supervisor.sendProcessStdin", "quick", "x"),
        ("supervisor.sendProcessStdin", "nope", "x"),
    ])
    for side in sides.values():
        wait_until(lambda side=side: "hello" in side.call("supervisor.readProcessStdoutLog",
                                                          "cat", 0, 0), 10, "cat echoed")
    run_both(sides, [
        ("supervisor.readProcessStdoutLog", "cat", 0, 0),
        ("supervisor.readProcessLog", "cat", 0, 3),
        ("supervisor.readProcessStdoutLog", "cat", -3, 0),
        ("supervisor.readProcessStdoutLog", "cat", -3, 2),
        ("supervisor.readProcessStdoutLog", "cat", 0, -1),
        ("supervisor.readProcessStdoutLog", "nope", 0, 0),
        ("supervisor.readProcessStderrLog", "cat", 0, 0),
        ("supervisor.readProcessStdoutLog", "quick", 0, 0),
        ("supervisor.tailProcessStdoutLog", "cat", 0, 100),
        ("supervisor.tailProcessLog", "cat", 0, 2),
        ("supervisor.tailProcessStderrLog", "cat", 0, 100),
        ("supervisor.tailProcessStdoutLog", "quick", 0, 100),
        ("supervisor.clearProcessLogs", "cat"),
        ("supervisor.readProcessStdoutLog", "cat", 0, 0),
        ("supervisor.clearProcessLog", "nope"),
        ("supervisor.clearAllProcessLogs",),
    ])


def test_main_log(sides: Pair) -> None:
    run_both(sides, [
        ("supervisor.readLog", -5, 1),
        ("supervisor.readLog", 0, -1),
        ("supervisor.clearLog",),
    ])
    for side in sides.values():
        assert "supervisord started" not in side.call("supervisor.readLog", 0, 0)
        assert isinstance(side.call("supervisor.readMainLog", -10, 0), str)


def test_multicall(sides: Pair) -> None:
    calls = [
        {"methodName": "supervisor.getState", "params": []},
        {"methodName": "supervisor.stopProcess", "params": ["app"]},
        {"methodName": "supervisor.getProcessInfo", "params": ["app"]},
        {"methodName": "supervisor.startProcess", "params": ["app"]},
        {"methodName": "system.multicall", "params": [[]]},
        {"methodName": "supervisor.nope", "params": []},
        {"params": []},
        {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
    ]
    run_both(sides, [("system.multicall", calls)])


def test_reload_add_remove_groups(sides: Pair) -> None:
    for side in sides.values():
        text = side.daemon.conf_path.read_text()
        text = text.replace("[program:quick]", "[program:quick2]")  # removed + added
        text = text.replace("startretries=0", "startretries=1")  # quick2 differs anyway
        text = text.replace("[program:missing]\ncommand=/nonexistent/bin/thing",
                            "[program:missing]\ncommand=/nonexistent/bin/other")  # changed
        side.daemon.write_config(text)
    run_both(sides, [
        ("supervisor.reloadConfig",),
        ("supervisor.getAllConfigInfo",),
        ("supervisor.addProcessGroup", "quick2"),
        ("supervisor.addProcessGroup", "quick2"),
        ("supervisor.addProcessGroup", "nope"),
        ("supervisor.removeProcessGroup", "app"),
        ("supervisor.removeProcessGroup", "quick"),
        ("supervisor.removeProcessGroup", "nope"),
        ("supervisor.getAllProcessInfo",),
    ])
    for side in sides.values():
        side.daemon.write_config(side.daemon.conf_path.read_text() + "\n[program:broken]\n")
        fault = side.call("supervisor.reloadConfig")
        assert fault[:2] == ("FAULT", 92), fault
        assert fault[2].startswith("CANT_REREAD: ")
        # Nothing changed: the good config is still the one in use.
        assert side.call("supervisor.getState")["statename"] == "RUNNING"
        assert "quick2" in {p["name"] for p in side.call("supervisor.getAllProcessInfo")}


def test_inet_server_with_sha_auth(pair) -> None:
    sha = "{SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"  # sha1("test")
    sides = pair({"app": program(child_cmd("sleep"))}, inet=True, auth=("user", sha))
    for side in sides.values():
        assert side.inet_proxy("user", "test").supervisor.getState()["statename"] == "RUNNING"
        for proxy in (side.inet_proxy(), side.inet_proxy("user", "bad"),
                      side.inet_proxy("user", sha)):
            with pytest.raises(xmlrpc.client.ProtocolError) as info:
                proxy.supervisor.stopProcess("app")
            assert info.value.errcode == 401
            assert info.value.headers["WWW-Authenticate"] == 'Basic realm="default"'
        assert side.state_of("app") in ("STARTING", "RUNNING")
        log = side.daemon.mainlog_text()
        assert "INFO RPC interface 'supervisor' initialized" in log
        assert re.search(r"CRIT Server 'unix_http_server' running without any HTTP "
                         r"authentication checking", log)
        assert "inet_http_server' running without" not in log


def test_shutdown(sides: Pair) -> None:
    run_both(sides, [("supervisor.shutdown",)])
    for side in sides.values():
        assert side.daemon.wait_exit(15) == 0


NEVER_WRITTEN = {
    "silent": program(child_cmd("sleep")),
    "idle": program(child_cmd("sleep"), autostart=False),
    "broken": program("/nonexistent/bin/thing", startretries=0),
    "merged": program(child_cmd("sleep"), redirect_stderr=True),
}


def test_auto_logs_never_written(pair) -> None:
    """AUTO logs of programs that never print, never start or fail to spawn: stock has
    them as empty files from start-up, ours creates them on the first output (README:
    deliberate differences). Every answer about them is stock's."""
    sides = pair(NEVER_WRITTEN)
    for side in sides.values():
        side.wait_state("silent", "RUNNING")
        side.wait_state("merged", "RUNNING")
        side.wait_state("broken", "FATAL")
    windows = [(-100000, 2), (0, 0), (0, 100), (5, 10), (-1, 1600), (-10, 0), (0, -1)]
    calls: list[tuple[Any, ...]] = []
    for name in NEVER_WRITTEN:
        calls.append(("supervisor.getProcessInfo", name))
        for channel in ("Stdout", "Stderr"):
            for offset, length in windows:
                calls.append((f"supervisor.tailProcess{channel}Log", name, offset, length))
                calls.append((f"supervisor.readProcess{channel}Log", name, offset, length))
    run_both(sides, calls)
    assert sides["ours"].call("supervisor.tailProcessStdoutLog", "idle", -100000, 2) == [
        "", 0, True
    ]
    run_both(sides, [("supervisor.clearProcessLogs", name) for name in NEVER_WRITTEN])
    run_both(sides, calls)
    for name in NEVER_WRITTEN:
        answers = {impl: side.ctl("tail", name) for impl, side in sides.items()}
        assert answers["ours"] == answers["stock"], name
        for path in (f"/logtail/{name}", f"/logtail/{name}/stderr"):
            statuses = {}
            for impl, side in sides.items():
                connection = UnixConnection(str(side.sock))
                connection.request("GET", path)
                statuses[impl] = connection.getresponse().status
                connection.close()
            assert statuses["ours"] == statuses["stock"], path


def test_auto_log_removed_after_output(pair) -> None:
    """Once an AUTO log has been written, a file removed behind the daemon's back answers
    as missing on both (no empty-file stand-in)."""
    sides = pair({"talker": program(child_cmd("lines", 1))})
    for side in sides.values():
        path = side.call("supervisor.getProcessInfo", "talker")["stdout_logfile"]
        wait_until(lambda path=path: Path(path).exists() and Path(path).read_text(), 10, "line")
        Path(path).unlink()
    run_both(sides, [
        ("supervisor.readProcessStdoutLog", "talker", 0, 0),
        ("supervisor.tailProcessStdoutLog", "talker", -100000, 2),
    ])
