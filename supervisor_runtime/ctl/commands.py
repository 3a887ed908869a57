"""supervisorctl's actions: one function per command, listed in an explicit registry.

Each action takes the Session and the rest of the line (``arg``), prints through
``session.output`` and sets ``session.exitstatus`` the way stock 4.3.0 does (see the exit
codes in session.py). Returning True ends the interactive shell (quit, exit, EOF).
``execute`` parses a line and runs the matching action, reporting unexpected errors.
The daemon and configuration actions live in admin_commands.py.
"""

from __future__ import annotations

import cmd
import io
import string
from collections.abc import Callable
from typing import Any

from supervisor_runtime.config.notices import describe as describe_notice
from supervisor_runtime.ctl import client, streams
from supervisor_runtime.ctl import formatting as fmt
from supervisor_runtime.ctl.registry import (
    COMMANDS,
    Command,
    command,
    fault_result,
    show_help,
    usage_error,
)
from supervisor_runtime.ctl.session import InitExit, Session, StatusExit, describe_exception
from supervisor_runtime.rpc.faults import FaultCode
from supervisor_runtime.states import STOPPED_STATES, ProcessState

# ----------------------------------------------------------------------------- dispatch

IDENTCHARS = string.ascii_letters + string.digits + "_"


def parse_line(line: str) -> tuple[str | None, str | None, str]:
    """(command, argument, line) split the way cmd.Cmd does: ``?`` means help, the command
    is the leading run of identifier characters (so ``status:app`` is status of ``:app``)."""
    line = line.strip()
    if not line:
        return None, None, line
    if line[0] == "?":
        line = "help " + line[1:]
    i = 0
    while i < len(line) and line[i] in IDENTCHARS:
        i += 1
    return line[:i], line[i:].strip(), line


def execute(session: Session, line: str) -> bool:
    """Run one command line; True when the shell should stop."""
    name, arg, line = parse_line(line)
    if not line:
        return False  # an empty line does nothing (cmd.Cmd would repeat the last one)
    found = COMMANDS.get(name) if name else None
    if found is None:
        session.output(f"*** Unknown syntax: {line}")
        session.exitstatus = InitExit.GENERIC
        return False
    session.complete_info = None
    try:
        return bool(found.run(session, arg or ""))
    except client.ProtocolError as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.errcode == 401:
            session.output("Server requires authentication")
            if session.options.interactive:
                session.ask_credentials()
                return execute(session, line)
        # Stock retries the action once after a 401 outside the shell; it fails the same
        # way and is reported like any unexpected error, as here.
        session.output(describe_exception(exc))
    except Exception as exc:
        session.output(describe_exception(exc))
        session.exitstatus = InitExit.GENERIC
    return False


# ----------------------------------------------------------------------------- help & quit


@command(
    "help",
    "help\t\tlist the available actions",
    "help <action>\tdescribe one action",
    completes="actions",
)
def do_help(session: Session, arg: str) -> None:
    topic = arg.strip()
    if topic:
        found = COMMANDS.get(topic)
        if found is None or found.hidden:
            session.output(f"*** No help on {topic}")
            return
        show_help(session, topic)
        return
    # help (the action itself) is not listed, as in stock.
    # Nor our extensions: the index is stock's, word for word.
    names = sorted(n for n, c in COMMANDS.items() if not (c.hidden or c.extension) and n != "help")
    session.output("")
    out = io.StringIO()
    cmd.Cmd(stdout=out).print_topics("default commands (type help <topic>):", names, 15, 80)
    session.stdout.write(out.getvalue())


@command("EOF", hidden=True)
def do_eof(session: Session, arg: str) -> bool:
    session.output("")
    return True


@command("quit", "quit\tleave the supervisorctl shell")
def do_quit(session: Session, arg: str) -> bool:
    return do_eof(session, arg)


@command("exit", "exit\tleave the supervisorctl shell")
def do_exit(session: Session, arg: str) -> bool:
    return do_eof(session, arg)


# ----------------------------------------------------------------------------- status & pid


@command(
    "status",
    "status\t\t\tshow the state of every process",
    "status <name>\t\tshow the state of one process",
    "status <gname>:*\tshow the state of each process of a group",
    "status <name> <name>\tshow the state of several processes or groups",
    completes="processes",
)
def do_status(session: Session, arg: str) -> None:
    if not session.upcheck():
        session.exitstatus = StatusExit.UNKNOWN
        return
    infos, notices = session.process_infos_and_notices()
    names = arg.split()
    if not names or "all" in names:
        shown = infos
    else:
        shown = []
        for namespec in names:
            group, name = fmt.split_namespec(namespec)
            found = [
                info
                for info in infos
                if info["group"] == group and (name is None or info["name"] == name)
            ]
            if not found:
                what = "no such group" if name is None else "no such process"
                shown_name = group if name is None else namespec
                session.output(f"{shown_name}: ERROR ({what})")
                session.exitstatus = StatusExit.UNKNOWN
            shown.extend(found)
    for line in fmt.status_lines(shown):
        session.output(line)
    # Ours: each included file the server set aside ([include] skip_broken), after the table.
    for notice in notices:
        session.output(f"notice: {describe_notice(notice)}")
    if any(info["state"] in STOPPED_STATES for info in shown):
        session.exitstatus = StatusExit.NOT_RUNNING


@command(
    "pid",
    "pid\t\t\tprint the pid of supervisord itself",
    "pid <name>\t\tprint the pid of one process (0 when it is not running)",
    "pid all\t\t\tprint the pid of every process, one per line",
    completes="processes",
)
def do_pid(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    supervisor = session.supervisor
    names = arg.split()
    if not names:
        session.output(str(supervisor.getPID()))
        return
    if "all" in names:
        for info in supervisor.getAllProcessInfo():
            session.output(str(info["pid"]))
        return
    for name in names:
        try:
            info = supervisor.getProcessInfo(name)
        except client.Fault as exc:
            session.exitstatus = InitExit.GENERIC
            if exc.faultCode != FaultCode.BAD_NAME:
                raise
            session.output(f"No such process {name}")
            continue
        session.output(str(info["pid"]))
        if info["pid"] == 0:
            session.exitstatus = InitExit.NOT_RUNNING


# ----------------------------------------------------------------------------- start/stop


def _each_target(
    session: Session,
    names: list[str],
    *,
    all_call: Callable[[], list[dict[str, Any]]],
    group_call: Callable[[str], list[dict[str, Any]]],
    process_call: Callable[[str], object],
    line: Callable[[dict[str, Any]], str],
    success: str,
    ignored: int | None,
    bad_group_status: int,
) -> None:
    """The shared shape of start, stop and signal: ``all``, ``group:*`` or one name."""
    if "all" in names:
        for result in all_call():
            session.output(line(result))
            session.exit_from_fault(result["status"], ignored)
        return
    for namespec in names:
        group, name = fmt.split_namespec(namespec)
        if name is None:
            try:
                results = group_call(group)
            except client.Fault as exc:
                if exc.faultCode != FaultCode.BAD_NAME:
                    session.exitstatus = InitExit.GENERIC
                    raise
                session.output(f"{group}: ERROR (no such group)")
                session.exitstatus = bad_group_status
                continue
            for result in results:
                session.output(line(result))
                session.exit_from_fault(result["status"], ignored)
            continue
        try:
            process_call(namespec)
        except client.Fault as exc:
            result = fault_result(exc, namespec)
            session.output(line(result))
            session.exit_from_fault(result["status"], ignored)
        else:
            session.output(f"{fmt.make_namespec(group, name)}: {success}")


@command(
    "start",
    "start <name>\t\tstart a process",
    "start <gname>:*\t\tstart every process of a group",
    "start <name> <name>\tstart several processes or groups",
    "start all\t\tstart every process",
    completes="processes",
)
def do_start(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    names = arg.split()
    if not names:
        usage_error(session, "Error: start requires a process name", "start", 2)
        return
    supervisor = session.supervisor
    _each_target(
        session,
        names,
        all_call=supervisor.startAllProcesses,
        group_call=supervisor.startProcessGroup,
        process_call=supervisor.startProcess,
        line=fmt.start_result,
        success="started",
        ignored=FaultCode.ALREADY_STARTED,
        bad_group_status=InitExit.INVALID_ARGS,
    )


@command(
    "stop",
    "stop <name>\t\tstop a process",
    "stop <gname>:*\t\tstop every process of a group",
    "stop <name> <name>\tstop several processes or groups",
    "stop all\t\tstop every process",
    completes="processes",
)
def do_stop(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    names = arg.split()
    if not names:
        usage_error(session, "Error: stop requires a process name", "stop", InitExit.GENERIC)
        return
    supervisor = session.supervisor
    _each_target(
        session,
        names,
        all_call=supervisor.stopAllProcesses,
        group_call=supervisor.stopProcessGroup,
        process_call=supervisor.stopProcess,
        line=fmt.stop_result,
        success="stopped",
        ignored=FaultCode.NOT_RUNNING,
        bad_group_status=InitExit.GENERIC,
    )


@command(
    "restart",
    "restart <name>\t\tstop then start a process",
    "restart <gname>:*\tstop then start every process of a group",
    "restart <name> <name>\tstop then start several processes or groups",
    "restart all\t\tstop then start every process",
    "(restart uses the configuration already loaded; see reread and update for changes)",
    completes="processes",
)
def do_restart(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    if not arg.split():
        usage_error(session, "Error: restart requires a process name", "restart", 1)
        return
    do_stop(session, arg)
    do_start(session, arg)


@command(
    "signal",
    "signal <signal name> <name>\t\tsend a signal to a process",
    "signal <signal name> <gname>:*\t\tsend it to every process of a group",
    "signal <signal name> <name> <name>\tsend it to several processes or groups",
    "signal <signal name> all\t\tsend it to every process",
    completes="processes",
)
def do_signal(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    args = arg.split()
    if len(args) < 2:
        usage_error(session, "Error: signal requires a signal name and a process name", "signal", 1)
        return
    sig, names = args[0], args[1:]
    supervisor = session.supervisor
    _each_target(
        session,
        names,
        all_call=lambda: supervisor.signalAllProcesses(sig),
        group_call=lambda group: supervisor.signalProcessGroup(group, sig),
        process_call=lambda name: supervisor.signalProcess(name, sig),
        line=fmt.signal_result,
        success="signalled",
        ignored=None,
        bad_group_status=InitExit.GENERIC,
    )


@command(
    "clear",
    "clear <name>\t\tempty the log files of a process",
    "clear <name> <name>\tempty the log files of several processes",
    "clear all\t\tempty the log files of every process",
    completes="processes",
)
def do_clear(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    names = arg.split()
    if not names:
        usage_error(session, "Error: clear requires a process name", "clear", 1)
        return
    supervisor = session.supervisor
    if "all" in names:
        for result in supervisor.clearAllProcessLogs():
            session.output(fmt.clear_result(result))
            session.exit_from_fault(result["status"])
        return
    for namespec in names:
        try:
            supervisor.clearProcessLogs(namespec)
        except client.Fault as exc:
            result = fault_result(exc, namespec)
            session.output(fmt.clear_result(result))
            session.exit_from_fault(result["status"])
        else:
            group, name = fmt.split_namespec(namespec)
            session.output(f"{fmt.make_namespec(group, name)}: cleared")


# ----------------------------------------------------------------------------- logs


def _log_fault(session: Session, exc: client.Fault, who: str, bad_name: bool) -> None:
    """Report a readLog / read*Log fault, or re-raise one we have no words for."""
    session.exitstatus = InitExit.GENERIC
    if exc.faultCode == FaultCode.NO_FILE:
        session.output(f"{who}: ERROR (no log file)")
    elif exc.faultCode == FaultCode.FAILED:
        session.output(f"{who}: ERROR (unknown error reading log)")
    elif bad_name and exc.faultCode == FaultCode.BAD_NAME:
        session.output(f"{who}: ERROR (no such process name)")
    else:
        raise exc


@command(
    "tail",
    "tail [-f|-<bytes>] <name> [stdout|stderr]\tshow the end of a process log (stdout by default)",
    "tail <name>\t\tthe last 1600 bytes of its stdout",
    "tail -100 <name>\tthe last 100 bytes",
    "tail <name> stderr\tits stderr instead",
    "tail -f <name>\t\tkeep printing what is written (Ctrl-C to stop)",
    completes="processes",
)
def do_tail(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    args = arg.split()
    if len(args) < 1:
        usage_error(session, "Error: too few arguments", "tail", 1)
        return
    if len(args) > 3:
        usage_error(session, "Error: too many arguments", "tail", 1)
        return
    modifier = args.pop(0) if args[0].startswith("-") else None
    if len(args) == 1:
        name, channel = args[0], "stdout"
    elif args:
        # With three words the middle one is ignored, as in stock.
        name, channel = args[0], args[-1].lower()
        if channel not in ("stderr", "stdout"):
            usage_error(session, f"Error: bad channel {channel!r}", None, 1)
            return
    else:
        usage_error(session, "Error: tail requires process name", None, 1)
        return
    size: int | None = 1600
    if modifier is not None:
        if modifier[1:] == "f":
            size = None
        else:
            try:
                size = int(modifier[1:])
            except ValueError:
                usage_error(session, f"Error: bad argument {modifier}", None, 1)
                return
    if size is None:
        streams.follow(session, f"/logtail/{name}/{channel}")
        return
    session.warn_if_not_utf8()
    supervisor = session.supervisor
    reader = (
        supervisor.readProcessStdoutLog if channel == "stdout" else supervisor.readProcessStderrLog
    )
    try:
        text = reader(name, -size, 0)
    except client.Fault as exc:
        _log_fault(session, exc, name, bad_name=True)
        return
    session.output(text)


@command(
    "maintail",
    "maintail\tthe last 1600 bytes of supervisord's own log",
    "maintail -100\tthe last 100 bytes of it",
    "maintail -f\tkeep printing what supervisord logs (Ctrl-C to stop)",
)
def do_maintail(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    args = arg.split()
    if len(args) > 1:
        usage_error(session, "Error: too many arguments", "maintail", 1)
        return
    size = 1600
    if args:
        word = args[0]
        if not word.startswith("-"):
            usage_error(session, f"Error: bad argument {word}", None, 1)
            return
        if word[1:] == "f":
            streams.follow(session, "/mainlogtail")
            return
        try:
            size = int(word[1:])
        except ValueError:
            usage_error(session, f"Error: bad argument {word}", None, 1)
            return
    try:
        text = session.supervisor.readLog(-size, 0)
    except client.Fault as exc:
        _log_fault(session, exc, "supervisord", bad_name=False)
        return
    session.output(text)


@command(
    "fg",
    "fg <process>\tattach to a running process: show its output, send it what you type",
    "\t\tCtrl-C detaches",
    completes="processes",
)
def do_fg(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    names = arg.split()
    if not names:
        usage_error(session, "ERROR: no process name supplied", "fg", 1)
        return
    if len(names) > 1:
        usage_error(session, "ERROR: too many process names supplied", None, 1)
        return
    name = names[0]
    try:
        info = session.supervisor.getProcessInfo(name)
    except client.Fault as exc:
        if exc.faultCode == FaultCode.BAD_NAME:
            usage_error(session, "ERROR: bad process name supplied", None, 1)
        else:
            session.output(f"ERROR: {exc}")
        return
    if info["state"] != ProcessState.RUNNING:
        usage_error(session, "ERROR: process not running", None, 1)
        return
    streams.foreground(session, name)


@command(
    "open",
    "open <url>\ttalk to another supervisord from now on",
    "\t\t(unix:///path/to/socket or http://host:port)",
)
def do_open(session: Session, arg: str) -> None:
    url = arg.strip()
    from urllib.parse import urlsplit  # only for `open`: 3 ms of every start-up otherwise

    if urlsplit(url).scheme not in ("unix", "http"):
        usage_error(session, "ERROR: url must be http:// or unix://", None, 1)
        return
    session.options.serverurl = url
    session.reset_connection()
    # Show where we landed; the status shown does not change the exit code.
    saved = session.exitstatus
    do_status(session, "")
    session.exitstatus = saved


# Registers shutdown, reload, version, avail, reread, add, remove and update, then ours,
# history (they import the registry, not this module, so importing them last is only
# about table order).
from supervisor_runtime.ctl import admin_commands, history_command  # noqa: E402, F401

__all__ = ["COMMANDS", "Command", "command", "execute", "parse_line"]
