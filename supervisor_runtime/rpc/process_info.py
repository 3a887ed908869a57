"""The structs getProcessInfo and getAllConfigInfo return, shaped exactly as supervisord's."""

from __future__ import annotations

import time

from supervisor_runtime.static_types import TYPE_CHECKING

from ..config.model import AnyGroupConfig, LogfileSpecial, ProcessConfig
from ..states import ProcessState

if TYPE_CHECKING:
    from typing import Any

    from ..process import Process
    from ..supervisor import Supervisor

# XML-RPC integers are 32-bit: timestamps saturate in 2038, as supervisord's do.
MININT = -(2**31)
MAXINT = 2**31 - 1


def capped_int(value: float) -> int:
    return max(MININT, min(MAXINT, int(value)))


def make_namespec(group_name: str, process_name: str) -> str:
    """``name`` when a process is alone in its same-named group, else ``group:name``."""
    return process_name if group_name == process_name else f"{group_name}:{process_name}"


def split_namespec(namespec: str) -> tuple[str, str | None]:
    """``group:name`` -> (group, name); ``group:*`` or ``group:`` -> (group, None);
    ``name`` -> (name, name)."""
    group_name, sep, process_name = namespec.partition(":")
    if not sep:
        return namespec, namespec
    if not process_name or process_name == "*":
        return group_name, None
    return group_name, process_name


def uptime(seconds: int) -> str:
    """``str(datetime.timedelta(seconds=seconds))`` ("2 days, 3:04:05") without importing
    ``datetime``, memory every daemon would keep for this one line."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} day{'' if days == 1 else 's'}, {clock}" if days else clock


def describe(
    state: ProcessState, start: int, stop: int, now: int, pid: int, spawnerr: str, name: str
) -> str:
    """The one-line description supervisorctl status shows next to the state."""
    if state is ProcessState.RUNNING:
        # Whole seconds of UTC wall time, as supervisord computes it; never negative.
        seconds = max(0, now - start)
        return f"pid {pid}, uptime {uptime(seconds)}"
    if state in (ProcessState.FATAL, ProcessState.BACKOFF):
        return spawnerr or f'unknown error (try "tail {name}")'
    if state in (ProcessState.STOPPED, ProcessState.EXITED):
        if not start:
            return "Not started"
        return time.strftime("%b %d %I:%M %p", time.localtime(stop))
    return ""


def process_info(supervisor: Supervisor, process: Process, now: float | None = None) -> dict:
    logs = supervisor.logs_of(process)
    start = capped_int(process.laststart)
    stop = capped_int(process.laststop)
    now_int = capped_int(time.time() if now is None else now)
    spawnerr = process.spawnerr or ""
    stdout_logfile = logs.stdout_path or ""
    info: dict[str, Any] = {
        "name": process.name,
        "group": process.group_name,
        "start": start,
        "stop": stop,
        "now": now_int,
        "state": int(process.state),
        "statename": process.state.name,
        "spawnerr": spawnerr,
        "exitstatus": process.exitstatus or 0,
        "logfile": stdout_logfile,
        "stdout_logfile": stdout_logfile,
        "stderr_logfile": logs.stderr_path or "",
        "pid": process.pid,
    }
    info["description"] = describe(
        process.state, start, stop, now_int, process.pid, spawnerr, process.name
    )
    if process.config.backoff is not None and process.state is ProcessState.BACKOFF:
        # Ours, opt-in (backoff = exponential): when it is tried again, since it never
        # gives up. (backoff.py is loaded by the programs that opt in only.)
        from ..backoff import next_attempt_words

        moment = time.time() if now is None else now
        words = next_attempt_words(process.delay, moment, process.backoff + 1)
        info["description"] += f"; {words}"
    return info


def _logfile_value(target: object, resolved: str | None, realized: bool) -> str:
    # supervisord reports AUTO as 'auto' until the group is in use, then the real name.
    if target is LogfileSpecial.AUTO:
        return (resolved or "none") if realized else "auto"
    return "none" if target is None else str(target)


def config_info(
    supervisor: Supervisor, group: AnyGroupConfig, pconfig: ProcessConfig
) -> dict[str, Any]:
    active = supervisor.groups.get(group.name)
    inuse = active is not None
    # Only the very config object the running group was built from has its AUTO log
    # names chosen; a freshly re-read copy still says 'auto' (as supervisord).
    realized = active is not None and active.config is group
    process = active.processes.get(pconfig.name) if realized and active is not None else None
    logs = supervisor.logs_of(process) if process is not None else None
    stderr_target = None if pconfig.redirect_stderr else pconfig.stderr.logfile
    info: dict[str, Any] = {
        "autostart": pconfig.autostart,
        "directory": pconfig.directory,
        "uid": pconfig.uid,
        "command": pconfig.command,
        "exitcodes": list(pconfig.exitcodes),
        "group": group.name,
        "group_prio": group.priority,
        "inuse": inuse,
        "killasgroup": pconfig.killasgroup,
        "name": pconfig.name,
        "process_prio": pconfig.priority,
        "redirect_stderr": pconfig.redirect_stderr,
        "startretries": pconfig.startretries,
        "startsecs": pconfig.startsecs,
        "stdout_capture_maxbytes": pconfig.stdout.capture_maxbytes,
        "stdout_events_enabled": pconfig.stdout.events_enabled,
        "stdout_logfile": _logfile_value(
            pconfig.stdout.logfile, logs.stdout_path if logs else None, realized
        ),
        "stdout_logfile_backups": pconfig.stdout.logfile_backups,
        "stdout_logfile_maxbytes": pconfig.stdout.logfile_maxbytes,
        "stdout_syslog": pconfig.stdout.syslog,
        "stopsignal": int(pconfig.stopsignal),
        "stopwaitsecs": pconfig.stopwaitsecs,
        "stderr_capture_maxbytes": pconfig.stderr.capture_maxbytes,
        "stderr_events_enabled": pconfig.stderr.events_enabled,
        "stderr_logfile": _logfile_value(
            stderr_target, logs.stderr_path if logs else None, realized
        ),
        "stderr_logfile_backups": pconfig.stderr.logfile_backups,
        "stderr_logfile_maxbytes": pconfig.stderr.logfile_maxbytes,
        "stderr_syslog": pconfig.stderr.syslog,
        "serverurl": pconfig.serverurl,  # None (AUTO) shows as 'none', as supervisord
    }
    for key, value in info.items():
        if value is None:
            info[key] = "none"
    return info
