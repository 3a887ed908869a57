"""Ours: ``supervisorctl history``, the last transitions of processes and why they happened.

It reads the server's ``runtime.*`` namespace (rpc/runtime_ns.py), which a daemon serves
only when its config turns on the history ([supervisord] history = true) or a program
retries for ever (backoff = exponential). Not in the ``help`` index, which stays stock's;
``help history`` describes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from supervisor_runtime.ctl import client
from supervisor_runtime.ctl import formatting as fmt
from supervisor_runtime.ctl.registry import command, usage_error
from supervisor_runtime.ctl.session import InitExit, Session
from supervisor_runtime.rpc.faults import FaultCode

LOG_INDENT = " " * 6  # the output kept with a crash's entry, under the entry

NOT_SERVED = (
    "ERROR: this supervisord keeps no history "
    "(ours: set history = true in its [supervisord] section)"
)


def transition_line(entry: Mapping[str, Any]) -> str:
    """``  2026-12-06 17:03:40  RUNNING -> STOPPING  request  stopProcess by uid 0 ...``"""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["time"]))
    change = f"{entry['from'] or '-'} -> {entry['to']}"
    return f"  {when}  {change:<22} {entry['reason']:<11} {entry['description']}"


def history_lines(struct: Mapping[str, Any]) -> list[str]:
    """A process's status line (as `status` prints it), then its transitions, oldest first."""
    lines = fmt.status_lines([struct])
    if not struct["history_size"]:
        lines.append("  (no transitions kept: set history = true in [supervisord])")
    for entry in struct["transitions"]:
        lines.append(transition_line(entry))
        # The output of a crash, under its entry (an empty tail says so).
        if "log_tail" in entry:
            tail = entry["log_tail"].split("\n") if entry["log_tail"] else ["(no output)"]
            lines.extend(f"{LOG_INDENT}{line}" for line in tail)
    return lines


@command(
    "history",
    "history <name>\t\tthe last state changes of a process, each with its reason:",
    "\t\t\tan exit status or signal, the OOM killer, a request (and who",
    "\t\t\tsent it), a configuration change, a failed health check...",
    "history <gname>:*\tthe same for every process of a group",
    "history <name> <name>\tthe same for several processes",
    "history all\t\tthe same for every process",
    "An unexpected exit shows the last lines the program wrote (history_log_lines",
    "in [supervisord], default 20) indented under its entry.",
    "(ours: needs history = true in the [supervisord] section of the server)",
    completes="processes",
    extension=True,
)
def do_history(session: Session, arg: str) -> None:
    if not session.upcheck():
        return
    names = arg.split()
    if not names:
        usage_error(session, "Error: history requires a process name", "history", 2)
        return
    runtime = session.proxy().runtime
    for name in ["all"] if "all" in names else names:
        group, process = fmt.split_namespec(name)
        try:
            if name == "all":
                structs = runtime.getAllProcessHistory()
            elif process is None:  # group:* (every process of the group)
                structs = [s for s in runtime.getAllProcessHistory() if s["group"] == group]
                if not structs:
                    session.output(f"{group}: ERROR (no such group)")
                    session.exitstatus = InitExit.GENERIC
            else:
                structs = [runtime.getProcessHistory(name)]
        except client.Fault as exc:
            if not _fault(session, exc, name):
                return
            continue
        for struct in structs:
            session.output("\n".join(history_lines(struct)))


def _fault(session: Session, exc: client.Fault, name: str) -> bool:
    """Report a fault; False when the server has no history at all (stop asking)."""
    session.exitstatus = InitExit.GENERIC
    if exc.faultCode == FaultCode.UNKNOWN_METHOD:
        session.output(NOT_SERVED)
        return False
    if exc.faultCode == FaultCode.BAD_NAME:
        session.output(f"{name}: ERROR (no such process)")
        return True
    raise exc
