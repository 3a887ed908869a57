"""Ours: the ``runtime.*`` methods about readiness, liveness and dependencies.

Registered only when the configuration the daemon started (or reloaded) with uses
``readycheck``, ``healthcheck`` or ``depends_on``, so a stock configuration's
``system.listMethods`` stays stock's; stock clients never call them.

Each struct: ``name``, ``group``, ``readycheck`` and ``healthcheck`` (the checks as written,
"" for none), ``ready`` (a readiness probe succeeded since the last spawn), ``failures``
(liveness probes failed in a row), ``last_check`` (what the last probe said),
``waiting_for`` (what a start waits for: names not ready yet, [] when not waiting) and
``status`` (the words our supervisorctl adds after the state's description).
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

from ..states import ProcessState, SupervisorState
from .faults import FaultCode, RPCError
from .process_info import split_namespec
from .xmlrpc import Registry

if TYPE_CHECKING:
    from typing import Any

    from ..process import Process
    from ..supervisor import Supervisor


class HealthNamespace:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def _check_running(self) -> None:
        if self.supervisor.mood < SupervisorState.RUNNING:
            raise RPCError(FaultCode.SHUTDOWN_STATE)

    def getProcessHealth(self, name: Any) -> dict[str, Any]:
        """Readiness, liveness and dependency wait of one process (name or group:name)."""
        self._check_running()
        group_name, process_name = split_namespec(name) if isinstance(name, str) else ("", None)
        group = self.supervisor.groups.get(group_name)
        process = None if group is None else group.processes.get(process_name or "")
        if process is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        return self.health_struct(process)

    def getAllProcessHealth(self) -> list[dict[str, Any]]:
        """The struct of every process that declares a check or depends_on, sorted by
        group then name (as getAllProcessInfo)."""
        self._check_running()
        groups = self.supervisor.groups
        structs = []
        for group_name in sorted(groups):
            for process_name in sorted(groups[group_name].processes):
                process = groups[group_name].processes[process_name]
                config = process.config
                if config.readycheck or config.healthcheck or config.depends_on:
                    structs.append(self.health_struct(process))
        return structs

    def health_struct(self, process: Process) -> dict[str, Any]:
        health = self.supervisor.health.of(process)
        gate = self.supervisor.dependencies
        struct: dict[str, Any] = {
            "name": process.name,
            "group": process.group_name,
            "readycheck": "",
            "ready": False,
            "healthcheck": "",
            "failures": 0,
            "last_check": "",
        }
        if health is not None:
            struct.update(health.as_struct())
        waiting = gate.unmet(process) if process in gate.waiting else []
        struct["waiting_for"] = waiting
        struct["status"] = status_words(process, struct)
        return struct

    def register(self, registry: Registry) -> None:
        registry.add("runtime.getProcessHealth", self.getProcessHealth, ("struct", "string"))
        registry.add("runtime.getAllProcessHealth", self.getAllProcessHealth, ("array",))


def status_words(process: Process, struct: dict[str, Any]) -> str:
    """What our supervisorctl status adds after the description: "ready", "not ready",
    "health check failed 1 of 3", "waiting for redis"; "" when there is nothing to say."""
    words = []
    active = process.state in (ProcessState.STARTING, ProcessState.RUNNING)
    if struct["readycheck"] and active:
        words.append("ready" if struct["ready"] else "not ready")
    check = process.config.healthcheck
    if check is not None and struct["failures"] and process.state is ProcessState.RUNNING:
        words.append(f"health check failed {struct['failures']} of {check.failures}")
    if struct["waiting_for"]:
        words.append(f"waiting for {', '.join(struct['waiting_for'])}")
    return ", ".join(words)
