"""An event bus instance (not module globals) and the events the daemon emits.

Subscribers register for an event class; publishing an event calls every
subscriber of its class and of each base class, so subscribing to
``ProcessStateEvent`` receives every PROCESS_STATE_* event, as supervisord's
abstract event types do. Each event renders the payload an event listener
receives, byte for byte as supervisord 4.3.0 writes it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, Protocol

from .states import ProcessState

if TYPE_CHECKING:
    from typing import Any, ClassVar

    Subscriber = Callable[[Any], Any]


class EventProcess(Protocol):
    """What events need of the process they are about.

    A Protocol rather than ``process.Process``: process.py publishes these events, so
    naming its class here would make the two modules import each other.
    """

    group_name: str
    # Not read by the events themselves: subscribers look at the state the process
    # is in when the event reaches them (the shutdown and listener-pool checks).
    state: ProcessState

    @property
    def name(self) -> str: ...


class Event:
    """Base of all events (the abstract type EVENT)."""

    name: ClassVar[str] = "EVENT"
    # Numbered when the first listener pool takes the event: one daemon-wide serial,
    # and one serial per pool (the header's serial: and poolserial:).
    serial: int | None = None

    @property
    def pool_serials(self) -> dict[str, int]:
        return self.__dict__.setdefault("_pool_serials", {})

    def payload(self) -> str:
        return ""


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"Undecodable: {data!r}"


# -- process state ---------------------------------------------------------------


class ProcessStateEvent(Event):
    """PROCESS_STATE_*: values are captured when the event is made, as they change next."""

    name = "PROCESS_STATE"
    extra_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        process: EventProcess,
        from_state: ProcessState,
        expected: bool = True,
        tries: int = 0,
        pid: int = 0,
    ) -> None:
        self.process = process
        self.from_state = from_state
        self.expected = expected
        self.tries = tries
        self.pid = pid

    def payload(self) -> str:
        values: dict[str, object] = {
            "processname": self.process.name,
            "groupname": self.process.group_name,
            "from_state": self.from_state.name,
        }
        extras = {"tries": self.tries, "expected": int(self.expected), "pid": self.pid}
        values.update((field, extras[field]) for field in self.extra_fields)
        return " ".join(f"{key}:{value}" for key, value in values.items())


_STATE_EXTRAS: dict[ProcessState, tuple[str, ...]] = {
    ProcessState.STARTING: ("tries",),
    ProcessState.BACKOFF: ("tries",),
    ProcessState.EXITED: ("expected", "pid"),
    ProcessState.RUNNING: ("pid",),
    ProcessState.STOPPING: ("pid",),
    ProcessState.STOPPED: ("pid",),
}


def _state_event(state: ProcessState) -> type[ProcessStateEvent]:
    namespace = {
        "name": f"PROCESS_STATE_{state.name}",
        "extra_fields": _STATE_EXTRAS.get(state, ()),
    }
    return type(f"ProcessState{state.name.title()}Event", (ProcessStateEvent,), namespace)


PROCESS_STATE_EVENTS: dict[ProcessState, type[ProcessStateEvent]] = {
    state: _state_event(state) for state in ProcessState
}


# -- process output ----------------------------------------------------------------


class _ProcessOutputEvent(Event):
    """Output of one process: its name, group and pid, then the data."""

    channel: ClassVar[str] = ""

    def __init__(self, process: EventProcess, pid: int, data: bytes) -> None:
        self.process = process
        self.pid = pid
        self.data = data

    def _fields(self) -> str:
        return f"processname:{self.process.name} groupname:{self.process.group_name} pid:{self.pid}"


class ProcessLogEvent(_ProcessOutputEvent):
    """PROCESS_LOG_STDOUT/STDERR: output of a program with stdout/stderr_events_enabled."""

    name = "PROCESS_LOG"

    def payload(self) -> str:
        return f"{self._fields()} channel:{self.channel}\n{_text(self.data)}"


class ProcessLogStdoutEvent(ProcessLogEvent):
    name = "PROCESS_LOG_STDOUT"
    channel = "stdout"


class ProcessLogStderrEvent(ProcessLogEvent):
    name = "PROCESS_LOG_STDERR"
    channel = "stderr"


class ProcessCommunicationEvent(_ProcessOutputEvent):
    """PROCESS_COMMUNICATION_*: data a program wrote between the capture tokens."""

    name = "PROCESS_COMMUNICATION"
    BEGIN_TOKEN: ClassVar[bytes] = b"<!--XSUPERVISOR:BEGIN-->"
    END_TOKEN: ClassVar[bytes] = b"<!--XSUPERVISOR:END-->"

    def payload(self) -> str:
        return f"{self._fields()}\n{_text(self.data)}"


class ProcessCommunicationStdoutEvent(ProcessCommunicationEvent):
    name = "PROCESS_COMMUNICATION_STDOUT"
    channel = "stdout"


class ProcessCommunicationStderrEvent(ProcessCommunicationEvent):
    name = "PROCESS_COMMUNICATION_STDERR"
    channel = "stderr"


LOG_EVENTS = {"stdout": ProcessLogStdoutEvent, "stderr": ProcessLogStderrEvent}
COMMUNICATION_EVENTS = {
    "stdout": ProcessCommunicationStdoutEvent,
    "stderr": ProcessCommunicationStderrEvent,
}


# -- the daemon and its clients ------------------------------------------------------


class RemoteCommunicationEvent(Event):
    """Published by the XML-RPC call supervisor.sendRemoteCommEvent(type, data)."""

    name = "REMOTE_COMMUNICATION"

    def __init__(self, type: str, data: str) -> None:  # noqa: A002 - supervisord's name
        self.type = type
        self.data = data

    def payload(self) -> str:
        return f"type:{self.type}\n{self.data}"


class SupervisorStateChangeEvent(Event):
    name = "SUPERVISOR_STATE_CHANGE"


class SupervisorRunningEvent(SupervisorStateChangeEvent):
    name = "SUPERVISOR_STATE_CHANGE_RUNNING"


class SupervisorStoppingEvent(SupervisorStateChangeEvent):
    name = "SUPERVISOR_STATE_CHANGE_STOPPING"


class ProcessGroupEvent(Event):
    name = "PROCESS_GROUP"

    def __init__(self, group: str) -> None:
        self.group = group

    def payload(self) -> str:
        return f"groupname:{self.group}\n"


class ProcessGroupAddedEvent(ProcessGroupEvent):
    name = "PROCESS_GROUP_ADDED"


class ProcessGroupRemovedEvent(ProcessGroupEvent):
    name = "PROCESS_GROUP_REMOVED"


class TickEvent(Event):
    """TICK_*: published at wall-clock multiples of ``period`` seconds."""

    name = "TICK"
    period: ClassVar[int] = 0

    def __init__(self, when: int) -> None:
        self.when = when

    def payload(self) -> str:
        return f"when:{self.when}"


class Tick5Event(TickEvent):
    name = "TICK_5"
    period = 5


class Tick60Event(TickEvent):
    name = "TICK_60"
    period = 60


class Tick3600Event(TickEvent):
    name = "TICK_3600"
    period = 3600


TICK_EVENTS: tuple[type[TickEvent], ...] = (Tick5Event, Tick60Event, Tick3600Event)


class EventRejected:
    """A listener did not take ``event`` (FAIL, bad result, or it died while BUSY).

    Not an Event: listeners can never subscribe to it, only pools do.
    """

    def __init__(self, process: EventProcess, event: Event) -> None:
        self.process = process
        self.event = event


def _all_event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = [Event]
    while pending:
        cls = pending.pop()
        if "name" in vars(cls):  # helper bases without a name of their own are not types
            found[cls.name] = cls
        pending.extend(cls.__subclasses__())
    return found


# Every event type by supervisord's name, abstract types (EVENT, PROCESS_STATE...) included.
EVENT_TYPES: dict[str, type[Event]] = _all_event_types()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Subscriber]] = defaultdict(list)
        # A subscriber's error must not stop the others, nor the state change that
        # published the event; the daemon sets this to its log.
        self.on_error: Callable[[str], Any] | None = None
        # One serial sequence per daemon, shared by every listener pool.
        self._serials = itertools.count(0)
        # Told of each new subscription (the daemon starts its TICK timers only then).
        self.on_subscribe: Callable[[type], Any] | None = None

    def next_serial(self) -> int:
        return next(self._serials)

    def upcoming_serial(self) -> int:
        """The serial the next event will get, without taking it (a live upgrade)."""
        upcoming = next(self._serials)
        self._serials = itertools.count(upcoming)
        return upcoming

    def continue_serials(self, upcoming: int) -> None:
        self._serials = itertools.count(upcoming)

    def subscribe(self, event_type: type, callback: Subscriber) -> None:
        self._subscribers[event_type].append(callback)
        if self.on_subscribe is not None:
            self.on_subscribe(event_type)

    def unsubscribe(self, event_type: type, callback: Subscriber) -> None:
        callbacks = self._subscribers.get(event_type, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def has_subscribers(self, event_type: type) -> bool:
        """True if publishing ``event_type`` would reach anyone (lets hot paths skip work)."""
        return any(self._subscribers.get(cls) for cls in event_type.__mro__)

    def publish(self, event: Event | EventRejected) -> None:
        for cls in type(event).__mro__:
            for callback in tuple(self._subscribers.get(cls, ())):
                if self.on_error is None:
                    callback(event)
                    continue
                try:
                    callback(event)
                except Exception as error:
                    self.on_error(f"error in a subscriber of {event.name}: {error!r}")

    def clear(self) -> None:
        self._subscribers.clear()
