"""Unit tests: argument parsing, output formatting, commands on a fake server, the client."""

from __future__ import annotations

import io
import threading
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from supervisor_runtime.ctl import commands
from supervisor_runtime.ctl import formatting as fmt
from supervisor_runtime.ctl.client import ServerUnreachable, connect
from supervisor_runtime.ctl.options import (
    CtlOptions,
    HelpRequested,
    UsageError,
    parse_args,
)
from supervisor_runtime.ctl.session import Session, describe_exception
from supervisor_runtime.rpc.faults import FaultCode

# ----------------------------------------------------------------------------- formatting


def info(
    group: str, name: str, state: int = 20, statename: str = "RUNNING", desc: str = ""
) -> dict:
    return {"group": group, "name": name, "state": state, "statename": statename,
            "description": desc, "pid": 0}


def test_namespecs() -> None:
    assert fmt.make_namespec("app", "app") == "app"
    assert fmt.make_namespec("web", "w1") == "web:w1"
    assert fmt.make_namespec("web", None) == "web:None"  # stock prints this for clear web:*
    assert fmt.split_namespec("app") == ("app", "app")
    assert fmt.split_namespec("web:w1") == ("web", "w1")
    assert fmt.split_namespec("web:*") == ("web", None)
    assert fmt.split_namespec("web:") == ("web", None)
    assert fmt.split_namespec("a:b:c") == ("a", "b:c")


def test_status_lines_pad_to_33_then_10() -> None:
    lines = fmt.status_lines([info("app", "app", desc="pid 1, uptime 0:00:01"),
                              info("web", "w1", 0, "STOPPED", "Not started")])
    assert lines == [
        "app" + " " * 30 + "RUNNING   pid 1, uptime 0:00:01",
        "web:w1" + " " * 27 + "STOPPED   Not started",
    ]


def test_status_lines_widen_for_long_names() -> None:
    long = "g" * 20 + ":" + "p" * 20
    lines = fmt.status_lines([info("g" * 20, "p" * 20), info("a", "a", 10, "STARTING")])
    assert lines[0] == long + "   RUNNING   "
    assert lines[1] == "a" + " " * (len(long) + 2) + "STARTING  "


@pytest.mark.parametrize(
    ("code", "line"),
    [
        (FaultCode.SUCCESS, "web:w1: started"),
        (FaultCode.BAD_NAME, "web:w1: ERROR (no such process)"),
        (FaultCode.NO_FILE, "web:w1: ERROR (no such file)"),
        (FaultCode.NOT_EXECUTABLE, "web:w1: ERROR (file is not executable)"),
        (FaultCode.ALREADY_STARTED, "web:w1: ERROR (already started)"),
        (FaultCode.SPAWN_ERROR, "web:w1: ERROR (spawn error)"),
        (FaultCode.ABNORMAL_TERMINATION, "web:w1: ERROR (abnormal termination)"),
    ],
)
def test_start_result(code: int, line: str) -> None:
    assert fmt.start_result(fmt.fault_result(code, "web", "w1", "x")) == line


def test_signal_stop_clear_results() -> None:
    r = fmt.fault_result
    assert fmt.stop_result(r(FaultCode.SUCCESS, "a", "a", "")) == "a: stopped"
    assert fmt.stop_result(r(FaultCode.NOT_RUNNING, "a", "a", "")) == "a: ERROR (not running)"
    assert fmt.signal_result(r(FaultCode.BAD_SIGNAL, "a", "a", "")) == "a: ERROR (bad signal name)"
    assert fmt.signal_result(r(FaultCode.FAILED, "a", "a", "FAILED: boom")) == "FAILED: boom"
    assert fmt.clear_result(r(FaultCode.FAILED, "a", "a", "")) == "a: ERROR (failed)"
    with pytest.raises(ValueError, match="Unknown result code 6 for a"):
        fmt.start_result(r(FaultCode.SHUTDOWN_STATE, "a", "a", ""))


def test_config_info_and_changes() -> None:
    line = fmt.config_info_line({"group": "web", "name": "w1", "inuse": True,
                                 "autostart": False, "group_prio": 999, "process_prio": 5})
    assert line == "web:w1" + " " * 27 + "in use    manual    999:5"
    assert fmt.change_lines([], [], []) == ["No config updates to processes"]
    assert fmt.change_lines(["n"], ["c"], ["a"]) == ["a: disappeared", "c: changed", "n: available"]


# ----------------------------------------------------------------------------- options


def test_parse_args_defaults_and_interactive(tmp_path: Path) -> None:
    opts = parse_args([], cwd=str(tmp_path), progname=str(tmp_path / "bin" / "supervisorctl"))
    assert (opts.serverurl, opts.prompt, opts.interactive, opts.args) == (
        "http://localhost:9001", "supervisor", True, [])
    opts = parse_args(["-i", "status", "-c", "x"], cwd=str(tmp_path), progname="p")
    assert opts.interactive is True and opts.args == ["status", "-c", "x"]


def test_command_line_beats_config(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("[supervisorctl]\nserverurl=unix://%(here)s/s.sock\nusername=u\n"
                    "password=p\nprompt=box\nhistory_file=%(here)s/hist\n")
    opts = parse_args(["-c", str(conf), "-u", "cli", "status"])
    assert opts.serverurl == f"unix://{tmp_path}/s.sock"
    assert (opts.username, opts.password, opts.prompt) == ("cli", "p", "box")
    assert opts.history_file == str(tmp_path / "hist")
    assert opts.interactive is False
    opts = parse_args(["-c", str(conf), "-r", "/tmp/h2", "-s", "http://h:1"])
    assert (opts.history_file, opts.serverurl) == ("/tmp/h2", "http://h:1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-s", "nourl"], "invalid value for -s 'nourl': value 'nourl' is not a URL"),
        (["-u", "a", "-u", "b"], "conflicting command line option '-u'"),
        (["-x"], "option -x not recognized"),
        (["-c"], "option -c requires argument"),
        (["-c", "/nonexistent.conf"], "could not find config file /nonexistent.conf"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_args(argv)
    assert str(caught.value) == message


def test_missing_section_is_named_like_stock(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("[supervisord]\n")
    with pytest.raises(UsageError, match=r"^\.ini file does not include supervisorctl section$"):
        parse_args(["-c", str(conf)])


@pytest.mark.parametrize("flag", ["-h", "-?", "--help"])
def test_help_flag(flag: str) -> None:
    with pytest.raises(HelpRequested):
        parse_args([flag, "-s", "bad"])


# ----------------------------------------------------------------------------- commands


class FakeSupervisor:
    """The supervisor namespace, answering from canned data; `faults` maps a method to a
    Fault it raises."""

    def __init__(self, infos: list[dict], faults: dict[str, xmlrpc.client.Fault] | None = None):
        self.infos = infos
        self.faults = faults or {}
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append((method, args))
            if method in self.faults:
                raise self.faults[method]
            return getattr(self, f"_{method}")(*args)

        return call

    def _getVersion(self) -> str:  # noqa: N802 - RPC names
        return "3.0"

    def _getAllProcessInfo(self) -> list[dict]:  # noqa: N802
        return self.infos

    def _startAllProcesses(self) -> list[dict]:  # noqa: N802
        return [fmt.fault_result(FaultCode.SPAWN_ERROR, "a", "a", ""),
                fmt.fault_result(FaultCode.ALREADY_STARTED, "b", "b", "")]

    def _getSupervisorVersion(self) -> str:  # noqa: N802
        return "4.3.0"

    def _reloadConfig(self) -> list:  # noqa: N802
        return [[["new"], ["changed"], ["gone"]]]

    def _stopProcessGroup(self, name: str) -> list[dict]:  # noqa: N802
        return [fmt.fault_result(FaultCode.SUCCESS, name, name, "")]

    def _removeProcessGroup(self, name: str) -> bool:  # noqa: N802
        return True

    def _addProcessGroup(self, name: str) -> bool:  # noqa: N802
        return True


class FakeSystem:
    """system.multicall over the fake supervisor namespace, faults as structs, as a server
    answers it; a method the fake does not have is UNKNOWN_METHOD."""

    def __init__(self, supervisor: FakeSupervisor) -> None:
        self.supervisor = supervisor

    def multicall(self, calls: list[dict]) -> list[Any]:
        results: list[Any] = []
        for call in calls:
            method = call["methodName"].split(".", 1)[1]
            answer = f"_{method}"
            if not hasattr(type(self.supervisor), answer) and answer not in vars(self.supervisor):
                results.append({"faultCode": FaultCode.UNKNOWN_METHOD, "faultString": "UNKNOWN"})
                continue
            try:
                results.append(getattr(self.supervisor, method)(*call["params"]))
            except xmlrpc.client.Fault as fault:
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
        return results


class FakeProxy:
    def __init__(self, supervisor: FakeSupervisor) -> None:
        self.supervisor = supervisor
        self.system = FakeSystem(supervisor)

    def close(self) -> None:
        pass


def session_for(fake: FakeSupervisor, **options: Any) -> tuple[Session, io.StringIO]:
    out = io.StringIO()
    session = Session(CtlOptions(**options), stdout=out, proxy_factory=lambda _: FakeProxy(fake))
    return session, out


def test_start_all_exit_status_follows_the_last_failure() -> None:
    session, out = session_for(FakeSupervisor([]))
    commands.execute(session, "start all")
    assert out.getvalue() == "a: ERROR (spawn error)\nb: ERROR (already started)\n"
    assert session.exitstatus == 7  # already started is not a failure for start


def test_status_exit_codes() -> None:
    infos = [info("a", "a"), info("b", "b", 0, "STOPPED", "Not started")]
    session, _ = session_for(FakeSupervisor(infos))
    commands.execute(session, "status a")
    assert session.exitstatus == 0
    commands.execute(session, "status nope b")
    assert session.exitstatus == 3  # a stopped process shown wins over the unknown name
    session, out = session_for(FakeSupervisor(infos))
    commands.execute(session, "status nope:*")
    assert (out.getvalue(), session.exitstatus) == ("nope: ERROR (no such group)\n", 4)


def test_status_prints_config_notices_after_the_table() -> None:
    fake = FakeSupervisor([info("app", "app")])
    notice = {"file": "/srv/conf/supervisor.d/mine.conf", "line": 7, "section": "program:r",
              "key": "numprocs", "value": "l", "error": "not an integer: 'l'"}
    fake._getConfigNotices = lambda: [notice]  # type: ignore[attr-defined]
    session, out = session_for(fake)
    commands.execute(session, "status")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("app ")
    assert lines[1:] == [
        "notice: included file /srv/conf/supervisor.d/mine.conf set aside: line 7 "
        "[program:r] numprocs = 'l': not an integer: 'l'"
    ]
    assert session.exitstatus == 0  # a notice is not a failure


def test_status_without_notices_is_unchanged_and_faults_still_raise() -> None:
    session, out = session_for(FakeSupervisor([info("app", "app")]))
    commands.execute(session, "status")
    assert "notice" not in out.getvalue()
    fault = xmlrpc.client.Fault(FaultCode.SHUTDOWN_STATE, "SHUTDOWN_STATE")
    session, out = session_for(FakeSupervisor([], {"getAllProcessInfo": fault}))
    commands.execute(session, "status")
    assert "SHUTDOWN_STATE" in out.getvalue() and session.exitstatus == 1


def test_update_stops_removes_and_adds() -> None:
    fake = FakeSupervisor([info("changed", "changed"), info("gone", "gone")])
    session, out = session_for(fake)
    commands.execute(session, "update")
    assert out.getvalue() == (
        "gone: stopped\ngone: removed process group\nchanged: stopped\n"
        "changed: updated process group\nnew: added process group\n"
    )
    session, out = session_for(fake)
    commands.execute(session, "update new")
    assert out.getvalue() == "new: added process group\n"


def test_reread_cant_reread_and_shutdown_state() -> None:
    fault = xmlrpc.client.Fault(FaultCode.CANT_REREAD, "CANT_REREAD: bad line")
    session, out = session_for(FakeSupervisor([], {"reloadConfig": fault}))
    commands.execute(session, "reread")
    assert (out.getvalue(), session.exitstatus) == ("ERROR: CANT_REREAD: bad line\n", 1)
    fault = xmlrpc.client.Fault(FaultCode.SHUTDOWN_STATE, "SHUTDOWN_STATE")
    session, out = session_for(FakeSupervisor([], {"getAllConfigInfo": fault}))
    commands.execute(session, "avail")
    assert out.getvalue() == "ERROR: supervisor shutting down\n"


def test_unknown_api_version_and_missing_namespace() -> None:
    fake = FakeSupervisor([])
    fake._getVersion = lambda: "2.0"  # type: ignore[method-assign]
    session, out = session_for(fake)
    commands.execute(session, "version")
    assert session.exitstatus == 5 and "remote version is 2.0." in out.getvalue()
    fault = xmlrpc.client.Fault(FaultCode.UNKNOWN_METHOD, "UNKNOWN_METHOD")
    session, out = session_for(FakeSupervisor([], {"getVersion": fault}))
    commands.execute(session, "status")
    assert session.exitstatus == 4  # status turns any failed check into "unknown"


def test_401_outside_and_inside_the_shell() -> None:
    denied = xmlrpc.client.ProtocolError("127.0.0.1/RPC2", 401, "Unauthorized", {})
    fake = FakeSupervisor([], {"getVersion": denied})
    session, out = session_for(fake)
    commands.execute(session, "version")
    lines = out.getvalue().splitlines()
    assert lines[0] == "Server requires authentication"
    assert lines[1].startswith("error: <class 'xmlrpc.client.ProtocolError'>, "
                               "<ProtocolError for 127.0.0.1/RPC2: 401 Unauthorized>: file: ")
    assert session.exitstatus == 1

    # In the shell: ask, then run the command again with what was typed.
    session, out = session_for(fake, interactive=True)

    def login(prompt: str) -> str:
        fake.faults.clear()
        return "pw"

    session.read_line = lambda prompt: "bob"
    session.read_password = login
    commands.execute(session, "version")
    assert (session.options.username, session.options.password) == ("bob", "pw")
    assert out.getvalue() == "Server requires authentication\n\n4.3.0\n"


def test_parse_line_like_cmd() -> None:
    assert commands.parse_line("  status app  ") == ("status", "app", "status app")
    assert commands.parse_line("? tail") == ("help", "tail", "help  tail")
    assert commands.parse_line("status:app") == ("status", ":app", "status:app")
    assert commands.parse_line("!ls") == ("", "!ls", "!ls")
    assert commands.parse_line("   ") == (None, None, "")


def test_describe_exception_names_innermost_frame() -> None:
    try:
        raise ServerUnreachable("unix:///x", FileNotFoundError(2, "No such file or directory"))
    except ServerUnreachable as exc:
        exc.__cause__ = exc.cause
        text = describe_exception(exc)
    assert text.startswith("error: <class 'FileNotFoundError'>, [Errno 2] No such file")


def test_registry_is_complete() -> None:
    expected = {"add", "avail", "clear", "exit", "fg", "help", "maintail", "open", "pid",
                "quit", "reload", "remove", "reread", "restart", "shutdown", "signal", "start",
                "status", "stop", "tail", "update", "version", "EOF", "history"}
    assert set(commands.COMMANDS) == expected
    # Ours are described by `help <name>` but kept out of stock's `help` index.
    assert {n for n, c in commands.COMMANDS.items() if c.extension} == {"history"}
    for found in commands.COMMANDS.values():
        assert found.hidden or found.help


# ----------------------------------------------------------------------------- client


class _CountingServer(SimpleXMLRPCServer):
    connections = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        self.connections += 1
        return super().get_request()


class _KeepAliveHandler(SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"
    rpc_paths = ("/RPC2",)


@pytest.fixture
def fake_server() -> Iterator[_CountingServer]:
    server = _CountingServer(("127.0.0.1", 0), _KeepAliveHandler, logRequests=False)
    server.register_function(lambda: "3.0", "supervisor.getVersion")
    server.register_function(lambda: [info("app", "app", desc="pid 7, uptime 0:00:01")],
                             "supervisor.getAllProcessInfo")

    def fail() -> None:
        raise xmlrpc.client.Fault(int(FaultCode.BAD_NAME), "BAD_NAME: x")

    server.register_function(fail, "supervisor.getProcessInfo")
    # serve each connection on its own thread, so a kept-alive one does not block others
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_one_connection_for_many_calls(fake_server: _CountingServer) -> None:
    host, port = fake_server.server_address[:2]
    with connect(f"http://{host}:{port}") as proxy:
        for _ in range(5):
            assert proxy.supervisor.getVersion() == "3.0"
        assert proxy.supervisor.getAllProcessInfo()[0]["name"] == "app"
        with pytest.raises(xmlrpc.client.Fault) as caught:
            proxy.supervisor.getProcessInfo()
        assert caught.value.faultCode == FaultCode.BAD_NAME
        assert proxy.supervisor.getVersion() == "3.0"
    assert fake_server.connections == 1


def test_supervisorctl_run_uses_one_connection(fake_server: _CountingServer) -> None:
    from tests.ctl.ctlrun import run_ctl

    host, port = fake_server.server_address[:2]
    run = run_ctl("ours", "-s", f"http://{host}:{port}", "status")
    assert run.stdout.startswith("app ") and run.rc == 0
    assert fake_server.connections == 1


def test_unreachable_is_a_clean_oserror(tmp_path: Path) -> None:
    proxy = connect(f"unix://{tmp_path}/none.sock")
    with pytest.raises(ServerUnreachable, match="cannot connect to unix://") as caught:
        proxy.supervisor.getState()
    assert caught.value.errno == 2
    with pytest.raises(ValueError, match="Unknown protocol for serverurl ftp://x"):
        connect("ftp://x")
