"""What ``scripts/run stop`` checks before it says that nothing is left running.

Once the host runtime has stopped, nothing the platform started should run. This looks, in
/proc, for every process that is still one of ours, by what marks it as ours:

- the host runtime's session: its programs and their children (unless they left it);
- ``SUPERVISOR_SERVER_URL`` naming a socket under the platform's roots: what a runtime
  (the host's or a tenant's, without containers) started, even after ``setsid``;
- with containers: an app's cgroup, or its network namespace;
- as root: an app's own user.

What is found is killed (SIGKILL) and waited for with a deadline; what survives that is
named, so the launcher never claims a clean stop it did not check.
"""

from __future__ import annotations

import os
import pwd
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workers.container import cgroups, netns
from workers.liveness import stat_fields

KILL_SECONDS = 10.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str
    why: str  # what marks it as the platform's

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.why}): {self.command}"


@dataclass
class Marks:
    """What makes a process the platform's (see the module doc)."""

    session: int | None = None  # the host runtime's session id: its pid
    roots: list[str] = field(default_factory=list)  # the host root, the apps' root
    cgroups: list[tuple[str, cgroups.Cgroup]] = field(default_factory=list)
    netns: dict[int, str] = field(default_factory=dict)  # namespace inode -> app
    uids: dict[int, str] = field(default_factory=dict)  # app user's uid -> app

    def add_app(self, app: str, key: str, containers: bool) -> None:
        """App ``app`` whose user (and container key) is ``key``."""
        if os.geteuid() == 0:
            try:
                self.uids[pwd.getpwnam(key).pw_uid] = f"user of app {app}"
            except KeyError:
                pass  # its user was never made
        if not containers:
            return
        hierarchy = cgroups.detect()
        for group in (cgroups.GROUP_DIR, cgroups.CHECKS_DIR):
            self.cgroups.append((f"cgroup of app {app}", hierarchy.cgroup(key, group)))
        try:
            inode = os.stat(netns.path_of(netns.name_for(key))).st_ino
        except OSError:
            return  # no namespace: nothing can be in it
        self.netns[inode] = f"network namespace of app {app}"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of ``pid``; None when it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else (fields[0], int(fields[3]))


def _read(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _why(pid: int, session: int, marks: Marks, in_cgroups: dict[int, str]) -> str | None:
    if pid in in_cgroups:
        return in_cgroups[pid]
    if marks.session is not None and session == marks.session:
        return "session of the host runtime"
    environ = b"\0" + _read(pid, "environ")
    for root in marks.roots:
        if f"\0SUPERVISOR_SERVER_URL=unix://{root}/".encode() in environ:
            return "started by a runtime of the platform"
    if marks.netns:
        try:
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            inode = -1
        if inode in marks.netns:
            return marks.netns[inode]
    if marks.uids:
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            return None
        return marks.uids.get(uid)
    return None


def find(marks: Marks) -> list[Leftover]:
    """Every running process (zombies aside: they run nothing) that ``marks`` call ours."""
    in_cgroups = {pid: label for label, cgroup in marks.cgroups for pid in cgroup.pids()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or stat[0] == "Z":
            continue
        why = _why(pid, stat[1], marks, in_cgroups)
        if why is not None:
            command = _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace")
            found.append(Leftover(pid, command.strip() or f"[{entry.name}]", why))
    return sorted(found, key=lambda leftover: leftover.pid)


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # gone, or not ours to kill: it shows up as a survivor


def end(marks: Marks, timeout: float = KILL_SECONDS) -> tuple[list[Leftover], list[Leftover]]:
    """Kill whatever ``find`` sees until none is left or ``timeout`` passes; returns (what
    was found, what survived)."""
    found = left = find(marks)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        _kill(leftover.pid for leftover in left)
        time.sleep(POLL_SECONDS)
        left = find(marks)
    return found, left


def report(found: list[Leftover], survivors: list[Leftover]) -> str:
    """The launcher's last words: true to what ``end`` saw."""
    if survivors:
        lines = "\n".join(f"  {leftover}" for leftover in survivors)
        return f"stopped, but {len(survivors)} of ours survived SIGKILL:\n{lines}"
    if found:
        lines = "\n".join(f"  {leftover}" for leftover in found)
        return f"stopped; {len(found)} left behind were killed:\n{lines}\nnothing is left running"
    return "stopped; nothing is left running"
