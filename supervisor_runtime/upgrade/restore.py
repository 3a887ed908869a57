"""The new daemon's side of a live upgrade: sockets, processes and pools taken over.

``abandon`` is the way out when the new daemon cannot go on (the config became invalid
between the check and the exec, or the hand-over cannot be read): the children are still
its own (same pid), so it stops them (SIGTERM, SIGKILL after ``ABANDON_WAIT``) and reaps
them before exiting: nothing is left orphaned.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import _socket as socket  # not the socket module's enums: see rpc/http.py
import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

from ..listeners import Listener
from .fields import child_descriptors, restore_process, thaw_event

if TYPE_CHECKING:
    from ..supervisor import Supervisor
    from .handover import Json

ABANDON_WAIT = 10.0


def adopt_listeners(document: dict[str, Json]) -> list[Listener]:
    """The control sockets the old daemon listened on, still bound and listening."""
    listeners = []
    for saved in document["listeners"]:
        sock = socket.socket(fileno=saved["fd"])
        os.set_inheritable(sock.fileno(), False)  # the C type has no method for it
        sock.setblocking(False)
        listeners.append(Listener(saved["kind"], sock, saved["path"]))
    return listeners


def restore_processes(supervisor: Supervisor, document: dict[str, Json]) -> int:
    """Every handed-over process into the new daemon's groups; returns how many children
    were adopted. A child whose program the new config lacks (the pre-flight check makes
    that unlikely) is stopped: nothing here could manage it."""
    supervisor.events.continue_serials(document["events"]["serial"])
    for name, saved_pool in document["pools"].items():
        pool = supervisor.pools.get(name)
        if pool is not None:
            pool.continue_pool_serials(saved_pool["serial"])
            # The groups were just added again: their PROCESS_GROUP_ADDED events are not
            # news to a listener. The buffer is the old daemon's, as it was.
            pool.buffer.clear()
            pool.buffer.extend(thaw_event(event) for event in saved_pool["buffer"])
    adopted = 0
    saved_groups: dict[str, dict[str, Any]] = document["processes"]
    for group_name, saved_processes in saved_groups.items():
        group = supervisor.groups.get(group_name)
        for name, saved in saved_processes.items():
            process = group.processes.get(name) if group is not None else None
            if process is None:
                _stop_stray(supervisor, f"{group_name}:{name}", saved)
                continue
            restore_process(process, supervisor, saved)
            process.resume()
            adopted += saved.get("child") is not None
    return adopted


def _stop_stray(supervisor: Supervisor, name: str, saved: dict[str, Json]) -> None:
    child = saved.get("child")
    if not child:
        return
    supervisor.log.critical(
        f"live upgrade: {name} (pid {child['pid']}) is not in the new configuration; "
        "stopping it with SIGTERM"
    )
    for fd in child_descriptors(child):
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError):
        os.kill(child["pid"], signal.SIGTERM)


def abandon(document: dict[str, Json], reason: str) -> None:
    """Stop and reap every handed-over child, close the sockets; the caller exits."""
    pids = [
        saved["child"]["pid"]
        for group in document["processes"].values()
        for saved in group.values()
        if saved.get("child")
    ]
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + ABANDON_WAIT
    waiting = set(pids)
    while waiting:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        if not waiting:
            break
        if time.monotonic() >= deadline:
            for pid in waiting:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        # Woken by the next exit (SIGCHLD is held, so sigtimedwait sees it) or 0.1 s.
        signal.sigtimedwait([signal.SIGCHLD], 0.1)
    for saved in document["listeners"]:
        with contextlib.suppress(OSError):
            os.close(saved["fd"])
        if saved["path"]:
            with contextlib.suppress(OSError):
                os.unlink(saved["path"])
    pidfile = document.get("pidfile")
    if pidfile:
        with contextlib.suppress(OSError):
            os.unlink(pidfile)
    message = f"live upgrade abandoned, every child stopped: {reason}"
    os.write(2, f"supervisord: {message}\n".encode())
    logfile = document.get("logfile")
    if logfile and not logfile.startswith(("/dev/", "syslog")):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S,000")
        with contextlib.suppress(OSError), open(logfile, "a") as log:
            log.write(f"{stamp} CRIT {message}\n")
