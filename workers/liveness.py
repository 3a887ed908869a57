"""Is the process that took something (a job, an app's lock) still there?

A process is named by a token ``<hostname>:<pid>:<start time>`` (the start time in clock
ticks since boot, from ``/proc/<pid>/stat``), so a pid the kernel handed to another process
since does not pass for the one that took it. Only a process of this machine can be judged:
one of another machine is never said to be gone (its lease or lock expiry decides).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (the state first), None
    when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return stat.rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> str | None:
    """``pid``'s start time, None when there is no such process or only its zombie."""
    fields = stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]


def process_token(pid: int | None = None) -> str:
    """This process's token (or ``pid``'s)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def runs_here(token: str) -> bool:
    """Whether ``token`` names a process of this machine (then ``is_gone`` can tell)."""
    return token.split(":", 1)[0] == socket.gethostname()


def is_gone(token: str) -> bool:
    """True when the process ``token`` names (a token or a longer text that starts with
    one) is of this machine and has exited."""
    _host, pid_text, start = (token.split(":") + ["", ""])[:3]
    if not runs_here(token) or not pid_text.isdigit():
        return False
    return _start_ticks(int(pid_text)) != start
