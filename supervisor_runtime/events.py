"""An event bus instance (not module globals) and the events the daemon emits.

Subscribers register for an event class; publishing an event calls every
subscriber of its class and of each base class, so subscribing to
``ProcessStateEvent`` receives every PROCESS_STATE_* event, as supervisord's
abstract event types do. Event listener pools (issue 4) subscribe here too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .states import ProcessState

if TYPE_CHECKING:
    from .process import Process


class Event:
    """Base of all events; ``name`` is supervisord's event type name."""

    name = "EVENT"


@dataclass
class ProcessStateEvent(Event):
    process: Process
    from_state: ProcessState
    expected: bool = True
    # tries / pid are captured at emit time because they change right after.
    tries: int = 0
    pid: int = 0

    name = "PROCESS_STATE"


def _state_event(state: ProcessState) -> type[ProcessStateEvent]:
    cls = type(f"ProcessState{state.name.title()}Event", (ProcessStateEvent,), {})
    cls.name = f"PROCESS_STATE_{state.name}"
    return cls


PROCESS_STATE_EVENTS: dict[ProcessState, type[ProcessStateEvent]] = {
    state: _state_event(state) for state in ProcessState
}


class SupervisorStateChangeEvent(Event):
    name = "SUPERVISOR_STATE_CHANGE"


class SupervisorRunningEvent(SupervisorStateChangeEvent):
    name = "SUPERVISOR_STATE_CHANGE_RUNNING"


class SupervisorStoppingEvent(SupervisorStateChangeEvent):
    name = "SUPERVISOR_STATE_CHANGE_STOPPING"


@dataclass
class ProcessGroupEvent(Event):
    group: str

    name = "PROCESS_GROUP"


class ProcessGroupAddedEvent(ProcessGroupEvent):
    name = "PROCESS_GROUP_ADDED"


class ProcessGroupRemovedEvent(ProcessGroupEvent):
    name = "PROCESS_GROUP_REMOVED"



@dataclass
class RemoteCommunicationEvent(Event):
    """Published by the XML-RPC call supervisor.sendRemoteCommEvent(type, data)."""

    type: str
    data: str

    name = "REMOTE_COMMUNICATION"


Subscriber = Callable[[Any], Any]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type[Event], list[Subscriber]] = defaultdict(list)

    def subscribe(self, event_type: type[Event], callback: Subscriber) -> None:
        self._subscribers[event_type].append(callback)

    def unsubscribe(self, event_type: type[Event], callback: Subscriber) -> None:
        callbacks = self._subscribers.get(event_type, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def publish(self, event: Event) -> None:
        for cls in type(event).__mro__:
            for callback in tuple(self._subscribers.get(cls, ())):
                callback(event)

    def clear(self) -> None:
        self._subscribers.clear()
