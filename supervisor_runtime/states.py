"""Process and supervisor states, with supervisord's names and numbers.

These numbers are part of the XML-RPC wire format (getProcessInfo 'state'),
so they must never change.
"""

from __future__ import annotations

from enum import IntEnum


class ProcessState(IntEnum):
    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000


# States in which the child may still be alive and must be stopped.
STOPPED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.UNKNOWN}
)
RUNNING_STATES = frozenset({ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING})
SIGNALLABLE_STATES = frozenset({ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING})


class SupervisorState(IntEnum):
    FATAL = 2
    RUNNING = 1
    RESTARTING = 0
    SHUTDOWN = -1


class EventListenerState(IntEnum):
    READY = 10
    BUSY = 20
    ACKNOWLEDGED = 30
    UNKNOWN = 40
