"""sd_notify: telling systemd (a unit of ``Type=notify``) how the daemon is doing.

systemd names a unix datagram socket in ``NOTIFY_SOCKET`` (a path, or ``@name`` for an
abstract socket); the daemon sends newline-separated ``KEY=value`` fields to it:

- ``READY=1`` (with ``MAINPID=``) once every autostart program has left STARTING and
  BACKOFF (it is RUNNING, or has given up: FATAL, EXITED...), so units ordered
  ``After=`` this one start once the programs are up;
- ``STATUS=`` with the count of processes in each state, whenever a count changes;
- ``RELOADING=1`` (with ``MONOTONIC_USEC=``) when a reload or a live upgrade begins, and
  ``READY=1`` again when the new configuration's (or the new code's) programs settled;
- ``STOPPING=1`` when the shutdown begins.

Nothing is sent without ``NOTIFY_SOCKET``: a stock set-up never sees any of this. The
variable is taken out of the daemon's environment, so programs do not inherit it (a
program that speaks sd_notify itself would otherwise talk for the whole unit); a live
upgrade passes it on to the new daemon.
"""

from __future__ import annotations

import _socket as socket  # not the socket module's enums: see rpc/http.py
import os
import time
from collections import Counter

from supervisor_runtime.static_types import TYPE_CHECKING

from .events import (
    ProcessGroupAddedEvent,
    ProcessGroupRemovedEvent,
    ProcessStateEvent,
    SupervisorStoppingEvent,
)
from .states import ProcessState, SupervisorState

if TYPE_CHECKING:
    from .supervisor import Supervisor

NOTIFY_ENV = "NOTIFY_SOCKET"
UNSETTLED = (ProcessState.STARTING, ProcessState.BACKOFF)


class Notifier:
    """The datagram socket to systemd; sending never raises (systemd may be gone)."""

    def __init__(self, address: str) -> None:
        if not address.startswith(("/", "@")):
            raise ValueError(
                f"{NOTIFY_ENV}={address!r} is neither a socket path nor an @abstract name"
            )
        self.address = address
        # "@name" is the abstract socket "\0name".
        self._target = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.error: OSError | None = None  # the last failure, for the log

    @classmethod
    def from_environment(
        cls, environ: os._Environ[str] | dict[str, str] = os.environ
    ) -> Notifier | None:
        """A notifier for ``NOTIFY_SOCKET`` (removed from ``environ``), or None."""
        address = environ.pop(NOTIFY_ENV, None)
        return cls(address) if address else None

    def send(self, *fields: str) -> bool:
        try:
            self._sock.sendto("\n".join(fields).encode(), self._target)
        except OSError as error:
            self.error = error
            return False
        return True

    def reloading(self, why: str) -> None:
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}", f"STATUS={why}")

    def close(self) -> None:
        self._sock.close()


def status_text(states: Counter[ProcessState]) -> str:
    """``3 processes: 2 RUNNING, 1 FATAL`` (states in supervisord's order)."""
    total = sum(states.values())
    counts = ", ".join(f"{states[state]} {state.name}" for state in sorted(states) if states[state])
    return f"{total} processes: {counts}" if total else "no processes"


class StatusReporter:
    """READY and STATUS for one run of the daemon (one per config, reload or upgrade)."""

    def __init__(self, notifier: Notifier, supervisor: Supervisor) -> None:
        self.notifier = notifier
        self.supervisor = supervisor
        self.ready = False
        self._last_status: str | None = None
        self._scheduled = False
        events = supervisor.events
        for event_type in (ProcessStateEvent, ProcessGroupAddedEvent, ProcessGroupRemovedEvent):
            events.subscribe(event_type, self._changed)
        events.subscribe(SupervisorStoppingEvent, self._stopping)

    def started(self) -> None:
        """The programs were started (or adopted): report now, READY if already settled."""
        self._report()

    def ready_again(self) -> None:
        """A live upgrade failed to exec after RELOADING=1 was sent: the daemon goes on."""
        self.ready = False
        self._report()

    def _changed(self, event: object) -> None:
        # Coalesced: a thousand state changes in one loop turn make one datagram.
        if not self._scheduled:
            self._scheduled = True
            self.supervisor.call_soon(self._report)

    def _report(self) -> None:
        self._scheduled = False
        if self.supervisor.mood < SupervisorState.RUNNING:
            return
        processes = list(self.supervisor.all_processes())
        status = f"STATUS={status_text(Counter(p.state for p in processes))}"
        queue = self.supervisor.boot_queue  # autostarts still waiting their turn
        if (
            not self.ready
            and not (queue is not None and queue.waiting)
            and not any(p.config.autostart and p.state in UNSETTLED for p in processes)
        ):
            self.ready = True
            self.notifier.send("READY=1", f"MAINPID={os.getpid()}", status)
        elif status != self._last_status:
            self.notifier.send(status)
        self._last_status = status

    def _stopping(self, event: object) -> None:
        if self.supervisor.mood is SupervisorState.RESTARTING:
            self.notifier.reloading("reloading the configuration")
        else:
            self.notifier.send("STOPPING=1", "STATUS=stopping every program")
