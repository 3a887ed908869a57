"""Ours: the ``runtime.*`` XML-RPC namespace, the restart history and the backoff state.

Served only by a daemon whose config asks for either ([supervisord] history = true, or a
program with backoff = exponential), so that a stock config's ``system.listMethods`` and
every answer stay stock's. Stock clients never call it; our ``supervisorctl history``
does (ctl/history_command.py).

- ``runtime.getProcessHistory(name)``: one struct (below) for ``name`` or ``group:name``;
- ``runtime.getAllProcessHistory()``: one per process, by group then name.

Each struct: ``name``, ``group``, ``statename``, ``description`` (as in getProcessInfo),
``backoff`` ("linear" or "exponential"), ``tries`` (failed starts in a row),
``next_attempt`` (when a process in BACKOFF is tried again, epoch seconds; 0.0 otherwise),
``history_size`` (0: no history kept) and ``transitions``, oldest first, each
``{time, from, to, reason, description, pid[, exitstatus][, signal][, requester]
[, log_tail]}``; ``requester`` is ``{via: "unix", uid, pid[, user]}`` or ``{via: "inet"[,
user], peer}``; ``log_tail`` (on an unexpected exit: EXITED not in exitcodes or by a
signal, BACKOFF, FATAL) is the last ``history_log_lines`` lines the program wrote on stdout
and stderr, joined with newlines, at most 4 KiB, "" when it wrote nothing.
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

from ..config.model import SupervisordConfig
from ..events import ProcessGroupAddedEvent
from ..states import ProcessState, SupervisorState
from .faults import FaultCode, RPCError
from .process_info import process_info, split_namespec
from .xmlrpc import Registry

if TYPE_CHECKING:
    from typing import Any

    from ..process import Process
    from ..supervisor import Supervisor


def wanted(config: SupervisordConfig) -> bool:
    """Whether the config uses anything this namespace reports on."""
    if config.history_size:
        return True
    return any(p.backoff is not None for group in config.groups for p in group.processes)


class RuntimeNamespace:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def _check_running(self) -> None:
        if self.supervisor.mood < SupervisorState.RUNNING:
            raise RPCError(FaultCode.SHUTDOWN_STATE)

    def _process(self, name: Any) -> Process:
        if not isinstance(name, str):
            raise RPCError(FaultCode.BAD_NAME, name)
        group_name, process_name = split_namespec(name)
        group = self.supervisor.groups.get(group_name)
        process = group.processes.get(process_name) if group and process_name else None
        if process is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        return process

    def _struct(self, process: Process) -> dict[str, Any]:
        book = self.supervisor.history
        in_backoff = process.state is ProcessState.BACKOFF
        transitions = book.transitions(process.group_name, process.name) if book else []
        return {
            "name": process.name,
            "group": process.group_name,
            "statename": process.state.name,
            "description": process_info(self.supervisor, process)["description"],
            "backoff": "linear" if process.config.backoff is None else "exponential",
            "tries": process.backoff,
            "next_attempt": float(process.delay) if in_backoff else 0.0,
            "history_size": book.size if book else 0,
            "transitions": [entry.as_struct() for entry in transitions],
        }

    def getProcessHistory(self, name: Any) -> dict[str, Any]:
        """The last transitions of one process (name or group:name), with their reasons,
        and its backoff state."""
        self._check_running()
        return self._struct(self._process(name))

    def getAllProcessHistory(self) -> list[dict[str, Any]]:
        """getProcessHistory of every process, sorted by group then process name."""
        self._check_running()
        groups = self.supervisor.groups
        return [
            self._struct(groups[g].processes[p])
            for g in sorted(groups)
            for p in sorted(groups[g].processes)
        ]

    def register(self, registry: Registry) -> None:
        registry.add("runtime.getProcessHistory", self.getProcessHistory, ("struct", "string"))
        registry.add("runtime.getAllProcessHistory", self.getAllProcessHistory, ("array",))


def serve_when_wanted(supervisor: Supervisor, registry: Registry) -> None:
    """Register the namespace now if the config wants it, else once a group that does is
    added (reread and update can bring in a program with backoff = exponential)."""
    namespace = RuntimeNamespace(supervisor)
    if wanted(supervisor.config):
        namespace.register(registry)
        return

    def on_group_added(event: ProcessGroupAddedEvent) -> None:
        group = supervisor.groups.get(event.group)
        if group is not None and any(p.config.backoff for p in group.processes.values()):
            namespace.register(registry)
            supervisor.events.unsubscribe(ProcessGroupAddedEvent, on_group_added)

    supervisor.events.subscribe(ProcessGroupAddedEvent, on_group_added)
