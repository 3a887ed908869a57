"""Ours, opt-in ([supervisord] state_stream = true): ``GET /state-stream``, the daemon's
process states pushed as they change, one JSON object per line.

A reader (the platform's status feeder) holds one connection open instead of polling
``getAllProcessInfo``. Lines, each with ``seq`` (lines of this stream, from 0) and ``time``:

- ``{"type": "snapshot", "processes": [getAllProcessInfo structs], "notices": [...]}``:
  first, and again after the set of groups changed (update, add/remove);
- ``{"type": "process", "process": <getProcessInfo struct>, "from": STATE, "to": STATE,
  "transition": <the history entry of this change as runtime.getProcessHistory gives it,
  or null when history is off>}``: one per process state change, in order;
- ``{"type": "ping"}``: after ``?heartbeat=SECONDS`` of silence (default 30, 0: none).

The answer is ``HTTP/1.1 200``, ``application/x-ndjson``, no Content-Length and
``Connection: close``: the body is the lines themselves (not chunked), until either side
closes. Lines are queued on the connection and sent as the loop finds its socket
writable, so the daemon never waits for a reader; one that lets more than
``MAX_UNSENT`` bytes pile up is cut off (it reconnects and gets a fresh snapshot). A reload
or a live upgrade cuts every stream the same way.

With no reader connected, a state change costs one empty-set check.
"""

from __future__ import annotations

import time

from supervisor_runtime.static_types import TYPE_CHECKING

from ..events import ProcessGroupAddedEvent, ProcessGroupRemovedEvent, ProcessStateEvent
from ..loop import TimerHandle
from ..states import ProcessState
from . import json_line
from .faults import RPCError
from .http import Request, Responder, unquote
from .process_info import process_info

if TYPE_CHECKING:
    from typing import Any

    from ..supervisor import Supervisor
    from .supervisor_ns import SupervisorNamespace

PATH = "/state-stream"
CONTENT_TYPE = "application/x-ndjson"
DEFAULT_HEARTBEAT = 30.0
MAX_HEARTBEAT = 24 * 3600.0
MAX_UNSENT = 1024 * 1024  # bytes queued for one reader before it is cut off
# A process that exited is moved to one of these before its pid is cleared (as stock's
# finish() does): the line says what getProcessInfo says once the change is done, no pid.
_EXITED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.BACKOFF, ProcessState.FATAL}
)


def _heartbeat_of(query: str) -> float:
    """``?heartbeat=SECONDS``; ValueError naming what is wrong."""
    # Not urllib.parse: it brings ipaddress in, memory every tenant runtime would keep.
    values = [
        unquote(value.replace("+", " "))
        for name, _, value in (field.partition("=") for field in query.split("&"))
        if unquote(name) == "heartbeat"
    ]
    if not values:
        return DEFAULT_HEARTBEAT
    try:
        seconds = float(values[-1])
    except ValueError:
        raise ValueError(f"heartbeat must be a number of seconds, not {values[-1]!r}") from None
    if not 0 <= seconds <= MAX_HEARTBEAT:  # also refuses nan
        raise ValueError(f"heartbeat must be from 0 to {MAX_HEARTBEAT:g} seconds")
    return seconds


class _Reader:
    """One open stream: numbers its lines, pings when silent, cut off when it lags."""

    def __init__(self, streams: StateStreams, responder: Responder, heartbeat: float) -> None:
        self.streams = streams
        self.responder = responder
        self.heartbeat = heartbeat
        self.seq = 0
        self.last_write = time.monotonic()
        self.timer: TimerHandle | None = None
        if heartbeat:
            self.timer = streams.supervisor.loop.call_later(heartbeat, self._on_timer)

    def send(self, line: dict[str, Any]) -> None:
        if not self.responder.alive:
            self.close()
            return
        line["seq"] = self.seq
        self.seq += 1
        self.responder.write(json_line.encode(line))
        self.last_write = time.monotonic()
        if self.responder.backlog() > MAX_UNSENT:
            self.streams.supervisor.log.warn(
                f"state stream: a reader has over {MAX_UNSENT} bytes unsent; closing it"
            )
            self.responder.close()
            self.close()

    def _on_timer(self) -> None:
        # Re-armed from the last write rather than at every write: a busy stream costs
        # no timer churn, a silent one a wake-up per heartbeat.
        self.timer = None
        if not self.responder.alive:
            self.close()
            return
        silent = time.monotonic() - self.last_write
        if silent >= self.heartbeat:
            self.send({"type": "ping", "time": time.time()})
            silent = 0.0
        if self.responder.alive:
            loop = self.streams.supervisor.loop
            self.timer = loop.call_later(self.heartbeat - silent, self._on_timer)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.streams.readers.discard(self)


class StateStreams:
    """Every open state stream of one daemon run, fed from its event bus."""

    def __init__(self, supervisor: Supervisor, rpc: SupervisorNamespace) -> None:
        self.supervisor = supervisor
        self.rpc = rpc
        self.readers: set[_Reader] = set()
        self._snapshot_due = False
        self._pending: list[dict[str, Any]] = []
        self._spawning: list[tuple[dict[str, Any], Any, float]] = []
        self._flush_due = False
        events = supervisor.events
        # Subscribed after the history book (made with the Supervisor): by the time a
        # state event reaches us, its transition is the book's newest entry.
        events.subscribe(ProcessStateEvent, self._on_state)
        events.subscribe(ProcessGroupAddedEvent, self._on_groups_changed)
        events.subscribe(ProcessGroupRemovedEvent, self._on_groups_changed)
        supervisor.notice_watchers.append(self._snapshot_soon)  # a reread set files aside

    def handle(self, request: Request, responder: Responder) -> None:
        if request.method != "GET":
            responder.error(405, headers=[("Allow", "GET")])
            return
        try:
            heartbeat = _heartbeat_of(request.query)
        except ValueError as error:
            responder.error(400, str(error))
            return
        # Self-timed: its pings and MAX_UNSENT watch the reader (no idle-timer wake-ups).
        responder.start_stream(200, [("Content-Type", CONTENT_TYPE)], close=True, self_timed=True)
        reader = _Reader(self, responder, heartbeat)
        responder.on_abort(reader.close)
        self.readers.add(reader)
        reader.send(self._snapshot())

    def close(self) -> None:
        """Cut every stream (a live upgrade is about to exec; readers reconnect)."""
        for reader in list(self.readers):
            reader.responder.close()
            reader.close()

    # -- lines ------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        try:
            processes = self.rpc.getAllProcessInfo()
        except RPCError:  # shutting down: nothing is going to run
            processes = []
        notices = [notice.as_struct() for notice in self.supervisor.config_notices]
        return {
            "type": "snapshot",
            "time": time.time(),
            "processes": processes,
            "notices": notices,
        }

    def _broadcast(self, make_line: Any) -> None:
        for reader in list(self.readers):
            reader.send(make_line())

    def _on_state(self, event: ProcessStateEvent) -> None:
        if not self.readers:
            return
        process = event.process
        transition = None
        book = self.supervisor.history
        if book is not None:
            entries = book.transitions(process.group_name, process.name)
            transition = entries[-1].as_struct() if entries else None
        info = process_info(self.supervisor, process)  # type: ignore[arg-type]
        if process.state in _EXITED_STATES:
            info["pid"] = 0
        line = {
            "type": "process",
            "time": time.time(),
            "process": info,
            "from": event.from_state.name,
            "to": process.state.name,
            "transition": transition,
        }
        if process.state is ProcessState.STARTING:
            self._spawning.append((line, process, process.laststart))
        # Sent once the loop is done with this change, in order with the others.
        self._pending.append(line)
        if not self._flush_due:
            self._flush_due = True
            self.supervisor.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        # STARTING is announced before the child is forked (as stock does): by now spawn()
        # has returned, and the line carries the pid it gave, as getProcessInfo has it
        # then. A spawn that failed has no pid, and a later spawn (not this line's) another
        # start time: those lines keep what they had.
        for line, process, started in self._spawning:
            if process.pid and process.laststart == started:
                line["process"]["pid"] = process.pid
        self._spawning.clear()
        lines, self._pending = self._pending, []
        for line in lines:
            self._broadcast(lambda line=line: dict(line))

    def _on_groups_changed(self, event: ProcessGroupAddedEvent) -> None:
        self._snapshot_soon()

    def _snapshot_soon(self) -> None:
        # An update adds and removes many groups in one request: one snapshot after it.
        if self.readers and not self._snapshot_due:
            self._snapshot_due = True
            self.supervisor.loop.call_soon(self._send_snapshot)

    def _send_snapshot(self) -> None:
        self._snapshot_due = False
        if self.readers:
            snapshot = self._snapshot()
            self._broadcast(lambda: dict(snapshot))
