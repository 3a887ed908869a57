"""supervisorctl actions about the daemon and its configuration: shutdown, reload, version,
avail, reread, add, remove, update. Registered into the same table as the others."""

from __future__ import annotations

import errno

from supervisor_runtime.ctl import client
from supervisor_runtime.ctl import formatting as fmt
from supervisor_runtime.ctl.registry import command, usage_error
from supervisor_runtime.ctl.session import InitExit, Session
from supervisor_runtime.rpc.faults import FaultCode

# ----------------------------------------------------------------------------- the daemon


def _confirm(session: Session, question: str) -> bool:
    """Only the shell asks; a one-shot command line is its own confirmation."""
    if not session.options.interactive:
        return True
    return session.read_line(question).lower().startswith("y")


@command("shutdown", "shutdown\tstop supervisord and every process it runs")
def do_shutdown(session: Session, arg: str) -> None:
    if arg:
        usage_error(session, "Error: shutdown accepts no arguments", "shutdown", 1)
        return
    if not _confirm(session, "Really shut the remote supervisord process down y/N? "):
        return
    url = session.options.serverurl
    try:
        session.supervisor.shutdown()
    except client.Fault as exc:
        if exc.faultCode != FaultCode.SHUTDOWN_STATE:
            session.exitstatus = InitExit.GENERIC
            raise
        session.output("ERROR: already shutting down")
    except OSError as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.errno == errno.ECONNREFUSED:
            session.output(f"ERROR: {url} refused connection (already shut down?)")
        elif exc.errno == errno.ENOENT:
            session.output(f"ERROR: {url} no such file (already shut down?)")
        else:
            raise
    else:
        session.output("Shut down")


@command("reload", "reload \t\tmake supervisord restart itself, rereading its configuration")
def do_reload(session: Session, arg: str) -> None:
    if arg:
        usage_error(session, "Error: reload accepts no arguments", "reload", 1)
        return
    if not _confirm(session, "Really restart the remote supervisord process y/N? "):
        return
    try:
        session.supervisor.restart()
    except client.Fault as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.faultCode != FaultCode.SHUTDOWN_STATE:
            raise
        session.output("ERROR: already shutting down")
    else:
        session.output("Restarted supervisord")


@command("version", "version\t\t\tprint the version of the supervisord we talk to")
def do_version(session: Session, arg: str) -> None:
    if arg:
        usage_error(session, "Error: version accepts no arguments", "version", 1)
        return
    if not session.upcheck():
        return
    session.output(session.supervisor.getSupervisorVersion())


# ----------------------------------------------------------------------------- configuration


@command("avail", "avail\t\t\tlist every configured process, active or not")
def do_avail(session: Session, arg: str) -> None:
    if arg:
        usage_error(session, "Error: avail accepts no arguments", "avail", 1)
        return
    try:
        infos = session.supervisor.getAllConfigInfo()
    except client.Fault as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.faultCode != FaultCode.SHUTDOWN_STATE:
            raise
        session.output("ERROR: supervisor shutting down")
        return
    for info in infos:
        session.output(fmt.config_info_line(info))


@command("reread", "reread \t\t\tload the configuration files again and show what changed")
def do_reread(session: Session, arg: str) -> None:
    if arg:
        usage_error(session, "Error: reread accepts no arguments", "reread", 1)
        return
    try:
        result = session.supervisor.reloadConfig()
    except client.Fault as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.faultCode == FaultCode.SHUTDOWN_STATE:
            session.output("ERROR: supervisor shutting down")
        elif exc.faultCode == FaultCode.CANT_REREAD:
            session.output(f"ERROR: {exc.faultString}")
        else:
            raise
        return
    for line in fmt.change_lines(*result[0]):
        session.output(line)


@command("add", "add <name> [...]\tactivate group(s) found by the last reread", completes="groups")
def do_add(session: Session, arg: str) -> None:
    supervisor = session.supervisor
    for name in arg.split():
        try:
            supervisor.addProcessGroup(name)
        except client.Fault as exc:
            if exc.faultCode == FaultCode.SHUTDOWN_STATE:
                session.output("ERROR: shutting down")
                session.exitstatus = InitExit.GENERIC
            elif exc.faultCode == FaultCode.ALREADY_ADDED:
                session.output("ERROR: process group already active")
            elif exc.faultCode == FaultCode.BAD_NAME:
                session.output(f"ERROR: no such process/group: {name}")
                session.exitstatus = InitExit.GENERIC
            else:
                session.exitstatus = InitExit.GENERIC
                raise
        else:
            session.output(f"{name}: added process group")


@command("remove", "remove <name> [...]\tdeactivate stopped group(s)", completes="groups")
def do_remove(session: Session, arg: str) -> None:
    supervisor = session.supervisor
    for name in arg.split():
        try:
            supervisor.removeProcessGroup(name)
        except client.Fault as exc:
            session.exitstatus = InitExit.GENERIC
            if exc.faultCode == FaultCode.STILL_RUNNING:
                session.output(f"ERROR: process/group still running: {name}")
            elif exc.faultCode == FaultCode.BAD_NAME:
                session.output(f"ERROR: no such process/group: {name}")
            else:
                raise
        else:
            session.output(f"{name}: removed process group")


@command(
    "update",
    "update\t\t\treread the configuration, then add, remove and restart groups to match",
    "update all\t\tthe same",
    "update <gname> [...]\tdo that only for the named groups",
    completes="groups",
)
def do_update(session: Session, arg: str) -> None:
    supervisor = session.supervisor
    try:
        result = supervisor.reloadConfig()
    except client.Fault as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.faultCode != FaultCode.SHUTDOWN_STATE:
            raise
        session.output("ERROR: already shutting down")
        return
    added, changed, removed = result[0]
    wanted = set(arg.split())
    if "all" in wanted:
        wanted = set()
    if wanted:
        known = {info["group"] for info in supervisor.getAllProcessInfo()} | set(added)
        for group in wanted:
            if group not in known:
                session.output(f"ERROR: no such group: {group}")
                session.exitstatus = InitExit.GENERIC

    def selected(group: str) -> bool:
        return not wanted or group in wanted

    for group in filter(selected, removed):
        results = supervisor.stopProcessGroup(group)
        session.output(f"{group}: stopped")
        if any(r["status"] == FaultCode.FAILED for r in results):
            session.output(f"{group}: has problems; not removing")
            session.exitstatus = InitExit.GENERIC
            continue
        supervisor.removeProcessGroup(group)
        session.output(f"{group}: removed process group")
    for group in filter(selected, changed):
        supervisor.stopProcessGroup(group)
        session.output(f"{group}: stopped")
        supervisor.removeProcessGroup(group)
        supervisor.addProcessGroup(group)
        session.output(f"{group}: updated process group")
    for group in filter(selected, added):
        supervisor.addProcessGroup(group)
        session.output(f"{group}: added process group")
