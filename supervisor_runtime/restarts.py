"""Restarts and stops the daemon decides by itself, each with its reason.

``restart_process`` is the one way a failed health check ("health check failed: ...") or
a dependency that left RUNNING (dependency_stop=restart) restarts a program, and
``stop_process`` the one way such a dependency stops one (dependency_stop=stop): the
reason goes to the main log here and, with [supervisord] history = true, to the process's
restart history (restart_reason.record_transition), as the cause of the transitions that follow.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from .events import ProcessStateEvent
from .restart_reason import record_transition
from .states import STOPPED_STATES, ProcessState, SupervisorState

if TYPE_CHECKING:
    from .process import Process
    from .supervisor import Supervisor


def restart_process(
    supervisor: Supervisor, process: Process, reason: str, kind: str = "health"
) -> None:
    """Stop ``process`` (stopsignal, SIGKILL after stopwaitsecs) and start it again once
    it has stopped and what it depends on is ready (never starting what an operator may
    have stopped: it waits for it). ``reason`` says why; ``kind`` is the history's word for
    it ("health", "dependency")."""
    supervisor.log.warn(f"restarting {process.name}: {reason}")
    record_transition(process, reason, kind)
    stop_then(supervisor, process, lambda: supervisor.dependencies.start(process, pull=False))


def stop_process(
    supervisor: Supervisor, process: Process, reason: str, kind: str = "dependency"
) -> None:
    """Stop ``process`` (stopsignal, SIGKILL after stopwaitsecs); ``reason`` says why."""
    supervisor.log.warn(f"stopping {process.name}: {reason}")
    record_transition(process, reason, kind)
    process.stop()


def stop_then(supervisor: Supervisor, process: Process, then: Callable[[], object]) -> None:
    """Stop ``process`` and call ``then()`` from the loop once it has stopped, unless the
    daemon is shutting down by then."""

    def stopped(event: ProcessStateEvent) -> None:
        if event.process is process and process.state in STOPPED_STATES:
            supervisor.events.unsubscribe(ProcessStateEvent, stopped)
            supervisor.loop.call_soon(again)

    def again() -> None:
        if supervisor.mood is SupervisorState.RUNNING and process.state in STOPPED_STATES:
            then()

    if process.state in STOPPED_STATES:
        supervisor.loop.call_soon(again)
        return
    supervisor.events.subscribe(ProcessStateEvent, stopped)
    if process.state in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF):
        process.stop()
