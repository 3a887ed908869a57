"""Ours, opt-in: readiness and liveness checks of the programs that declare them.

- ``readycheck``: probed from ``readycheck_startperiod`` seconds after each spawn, every
  ``readycheck_interval`` seconds after the previous probe ended, until one succeeds; the
  process is then *ready* until it stops or is spawned again. Readiness is reported beside
  the state (the state keeps supervisord's meaning): ``runtime.getProcessHealth``, and our
  ``supervisorctl status`` ("RUNNING pid 12, uptime 0:00:05, ready").
- ``healthcheck``: probed while the process is RUNNING (first at ``startperiod`` after the
  spawn, then every ``interval`` after the previous probe ended). After
  ``healthcheck_failures`` failed probes in a row the program is restarted, through
  ``restarts.restart_process`` with the reason "health check failed: <why>".

The monitor only listens to state changes once a group with a check is added, so a stock
configuration pays nothing for it; the checks themselves (health_checks.py) are imported
then too.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from .events import ProcessGroupAddedEvent, ProcessGroupRemovedEvent, ProcessStateEvent
from .states import ProcessState

if TYPE_CHECKING:
    from .health_checks import ProcessHealth
    from .process import Process
    from .supervisor import Supervisor


class HealthMonitor:
    """The checks of every active process that declares one."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self._health: dict[Process, ProcessHealth] = {}
        self._listening = False
        # Called (from the loop) when a process becomes ready or stops being ready.
        self.on_readiness: list[Callable[[Process], None]] = []
        supervisor.events.subscribe(ProcessGroupAddedEvent, self._group_added)
        supervisor.events.subscribe(ProcessGroupRemovedEvent, self._group_removed)

    def of(self, process: Process) -> ProcessHealth | None:
        return self._health.get(process)

    def is_ready(self, process: Process) -> bool:
        """RUNNING, and ready when it declares a readycheck."""
        if process.state is not ProcessState.RUNNING:
            return False
        health = self._health.get(process)
        return health is None or health.readiness is None or health.ready

    def readiness_changed(self, process: Process) -> None:
        for callback in self.on_readiness:
            self.supervisor.loop.call_soon(lambda callback=callback: callback(process))

    def _group_added(self, event: ProcessGroupAddedEvent) -> None:
        group = self.supervisor.groups.get(event.group)
        if group is None:
            return
        for process in group.processes.values():
            if process.config.readycheck is not None or process.config.healthcheck is not None:
                from .health_checks import ProcessHealth  # with the first check only

                self._health[process] = ProcessHealth(self, process)
        if self._health and not self._listening:
            self._listening = True
            self.supervisor.events.subscribe(ProcessStateEvent, self._state_changed)

    def _group_removed(self, event: ProcessGroupRemovedEvent) -> None:
        for process in [p for p in self._health if p.group_name == event.group]:
            self._health.pop(process).stop()

    def _state_changed(self, event: ProcessStateEvent) -> None:
        health = self._health.get(event.process)  # type: ignore[call-overload]
        if health is not None:
            health.state_changed(event.process.state)

    def close(self) -> None:
        for health in self._health.values():
            health.stop()
