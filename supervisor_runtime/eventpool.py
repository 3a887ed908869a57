"""Event listener pools: [eventlistener:x] and supervisord's listener protocol.

A listener says ``READY\\n`` on stdout; the pool writes one event (a header line
plus payload) to its stdin and the listener is BUSY until it answers
``RESULT <len>\\n<OK|FAIL>``. Each event goes to exactly one listener of the
pool; a rejected event (FAIL, a broken answer, or the listener dying while
BUSY) goes back to the head of the pool's buffer; a full buffer drops its
oldest event. Listener states and log lines are supervisord's.
"""

from __future__ import annotations

import importlib
import itertools
from collections import deque
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, Protocol

from .config.model import EventListenerPoolConfig
from .events import (
    EVENT_TYPES,
    Event,
    EventBus,
    EventProcess,
    EventRejected,
    ProcessStateEvent,
)
from .states import EventListenerState as L
from .states import ProcessState

if TYPE_CHECKING:
    from .process import Process

READY = b"READY\n"
RESULT = b"RESULT "
DEFAULT_RESULT_HANDLERS = {
    "supervisor.dispatchers:default_handler",
    "supervisor_runtime.eventpool:default_handler",
}
ENDED_STATES = frozenset(
    {
        ProcessState.EXITED,
        ProcessState.STOPPED,
        ProcessState.BACKOFF,
        ProcessState.FATAL,
        ProcessState.UNKNOWN,
    }
)


class RejectEvent(Exception):
    """Raised by a result handler that does not accept the listener's answer."""


def default_handler(event: Event, result: bytes) -> None:
    if result != b"OK":
        raise RejectEvent(result)


def load_result_handler(spec: str) -> Callable[[Event, bytes], None]:
    if spec in DEFAULT_RESULT_HANDLERS:
        return default_handler
    module_name, _, attribute = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{spec} cannot be resolved: {error}") from None


class PoolHost(Protocol):
    events: EventBus
    identifier: str

    @property
    def log(self) -> Logger: ...

    def write_stdin(self, process: Process, data: bytes) -> None: ...
    def call_soon(self, callback: Callable[[], object]) -> None: ...


class Logger(Protocol):
    def debug(self, msg: str) -> None: ...
    def warn(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class ListenerChannel:
    """The protocol state of one listener process, from one spawn to its exit."""

    def __init__(self) -> None:
        self.state = L.ACKNOWLEDGED
        self.event: Event | None = None
        self.buffer = b""
        self.result_len: int | None = None
        self.result = b""


class EventListenerPool:
    def __init__(
        self, config: EventListenerPoolConfig, processes: dict[str, Process], host: PoolHost
    ) -> None:
        self.config = config
        self.processes = processes
        self.host = host
        self.result_handler = load_result_handler(config.result_handler)
        self.buffer: deque[Event] = deque()
        self._pool_serials = itertools.count(0)
        # Keyed by the process objects events carry (see events.EventProcess).
        self._channels: dict[EventProcess, ListenerChannel] = {}
        self._dispatch_scheduled = False
        self._event_types = tuple(EVENT_TYPES[name] for name in config.events)
        for event_type in self._event_types:
            host.events.subscribe(event_type, self.accept)
        host.events.subscribe(EventRejected, self._on_rejected)
        host.events.subscribe(ProcessStateEvent, self._on_process_state)

    def close(self) -> None:
        for event_type in self._event_types:
            self.host.events.unsubscribe(event_type, self.accept)
        self.host.events.unsubscribe(EventRejected, self._on_rejected)
        self.host.events.unsubscribe(ProcessStateEvent, self._on_process_state)

    def channel(self, process: Process) -> ListenerChannel | None:
        return self._channels.get(process)

    def new_channel(self, process: Process) -> ListenerChannel:
        """A channel for a listener adopted after a live upgrade (its state is set next)."""
        channel = self._channels[process] = ListenerChannel()
        return channel

    def upcoming_pool_serial(self) -> int:
        upcoming = next(self._pool_serials)
        self._pool_serials = itertools.count(upcoming)
        return upcoming

    def continue_pool_serials(self, upcoming: int) -> None:
        self._pool_serials = itertools.count(upcoming)

    def listener_state(self, process: Process) -> L | None:
        channel = self._channels.get(process)
        return channel.state if channel else None

    # -- the buffer -------------------------------------------------------------

    def accept(self, event: Event, head: bool = False) -> None:
        serials = event.pool_serials
        if event.serial is None:
            event.serial = self.host.events.next_serial()
        if self.config.name in serials:
            if not head:
                return  # subscribed through two types (e.g. EVENT and PROCESS_STATE): once
            self.host.log.debug(
                f"rebuffering event {event.serial} for pool {self.config.name} "
                f"(buf size={len(self.buffer)}, max={self.config.buffer_size})"
            )
        else:
            serials[self.config.name] = next(self._pool_serials)
        if len(self.buffer) >= self.config.buffer_size:
            dropped = self.buffer.popleft()
            self.host.log.error(
                f"pool {self.config.name} event buffer overflowed, discarding event "
                f"{dropped.serial}"
            )
        if head:
            self.buffer.appendleft(event)
        else:
            self.buffer.append(event)
        self._schedule_dispatch()

    def _on_rejected(self, rejection: EventRejected) -> None:
        if rejection.process in self._channels and rejection.event is not None:
            self.accept(rejection.event, head=True)

    def _schedule_dispatch(self) -> None:
        # Coalesce: many events published in one loop pass need one dispatch pass.
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self.host.call_soon(self.dispatch)

    def dispatch(self) -> None:
        self._dispatch_scheduled = False
        while self.buffer:
            event = self.buffer.popleft()
            if not self._send(event):
                self.buffer.appendleft(event)
                return

    def _send(self, event: Event) -> bool:
        for process in self.processes.values():
            channel = self._channels.get(process)
            if process.state is not ProcessState.RUNNING or channel is None:
                continue
            if channel.state is not L.READY:
                continue
            try:
                self.host.write_stdin(process, self.envelope(event).encode("utf-8"))
            except OSError:
                self.host.log.debug(
                    f"epipe occurred while sending event {event.serial} to listener "
                    f"{process.name}, listener state unchanged"
                )
                continue
            self._change(process, channel, L.BUSY)
            channel.event = event
            self.host.log.debug(f"event {event.serial} sent to listener {process.name}")
            return True
        return False

    def envelope(self, event: Event) -> str:
        payload = event.payload()
        # len counts characters, as supervisord's (and its childutils' text reads) do.
        return (
            f"ver:3.0 server:{self.host.identifier} serial:{event.serial} "
            f"pool:{self.config.name} poolserial:{event.pool_serials[self.config.name]} "
            f"eventname:{event.name} len:{len(payload)}\n{payload}"
        )

    # -- listener processes --------------------------------------------------------

    def _on_process_state(self, event: ProcessStateEvent) -> None:
        process = event.process
        if process.group_name != self.config.name or process.name not in self.processes:
            return
        state = process.state
        if state is ProcessState.STARTING:
            self._channels[process] = ListenerChannel()  # a new child starts ACKNOWLEDGED
        elif state is ProcessState.RUNNING:
            self._schedule_dispatch()
        elif state in ENDED_STATES:
            channel = self._channels.get(process)
            if channel is not None and channel.event is not None:
                pending, channel.event = channel.event, None
                self.host.events.publish(EventRejected(process, pending))

    def feed(self, process: Process, data: bytes) -> None:
        """Bytes the listener wrote on stdout: READY and RESULT tokens."""
        channel = self._channels.get(process)
        if channel is None:
            return
        channel.buffer += data
        self._advance(process, channel)

    def _advance(self, process: Process, channel: ListenerChannel) -> None:
        while channel.buffer:
            if channel.state is L.UNKNOWN:
                channel.buffer = b""  # a listener that broke the protocol is ignored
                return
            if channel.state is L.ACKNOWLEDGED:
                if len(channel.buffer) < len(READY):
                    return
                if channel.buffer.startswith(READY):
                    channel.buffer = channel.buffer[len(READY) :]
                    channel.event = None
                    self._change(process, channel, L.READY)
                    self._schedule_dispatch()
                else:
                    channel.buffer = b""
                    channel.event = None
                    self._change(process, channel, L.UNKNOWN)
                continue
            if channel.state is L.READY:
                # Output while READY is out of turn: supervisord gives up on the listener.
                channel.buffer = b""
                channel.event = None
                self._change(process, channel, L.UNKNOWN)
                return
            if not self._advance_busy(process, channel):
                return

    def _advance_busy(self, process: Process, channel: ListenerChannel) -> bool:
        """Consume a RESULT line and its body; False when more bytes are needed."""
        if channel.result_len is None:
            line, newline, rest = channel.buffer.partition(b"\n")
            if not newline:
                return False
            channel.buffer = rest
            try:
                channel.result_len = int(line[len(RESULT) :])
            except ValueError:
                text = line.decode("utf-8", errors="replace")
                self.host.log.warn(f"{process.name}: bad result line: '{text}'")
                self._reject(process, channel, L.UNKNOWN)
                channel.buffer = b""
                return False
        needed = channel.result_len - len(channel.result)
        channel.result += channel.buffer[:needed]
        channel.buffer = channel.buffer[needed:]
        if len(channel.result) < channel.result_len:
            return False
        result, channel.result, channel.result_len = channel.result, b"", None
        self._handle_result(process, channel, result)
        return True

    def _handle_result(self, process: Process, channel: ListenerChannel, result: bytes) -> None:
        try:
            self.result_handler(channel.event, result)  # type: ignore[arg-type]
        except RejectEvent:
            self.host.log.warn(f"{process.name}: event was rejected")
            self._reject(process, channel, L.ACKNOWLEDGED)
        except Exception:
            self.host.log.warn(f"{process.name}: event caused an error")
            self._reject(process, channel, L.UNKNOWN)
        else:
            self.host.log.debug(f"{process.name}: event was processed")
            channel.event = None
            self._change(process, channel, L.ACKNOWLEDGED)

    def _reject(self, process: Process, channel: ListenerChannel, new_state: L) -> None:
        self._change(process, channel, new_state)
        pending, channel.event = channel.event, None
        if pending is not None:
            self.host.events.publish(EventRejected(process, pending))

    def _change(self, process: Process, channel: ListenerChannel, new_state: L) -> None:
        self.host.log.debug(f"{process.name}: {channel.state.name} -> {new_state.name}")
        channel.state = new_state
        if new_state is L.UNKNOWN:
            self.host.log.warn(
                f"{process.name}: has entered the UNKNOWN state and will no longer receive "
                "events, this usually indicates the process violated the eventlistener protocol"
            )
