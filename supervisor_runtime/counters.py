"""Ours, opt-in ([supervisord] metrics = true): what GET /metrics counts that the daemon does
not keep otherwise (rpc/metrics.py renders it).

Per process: its starts and the exits of its children, each by the restart history's
reason when ``history = true`` (a start: autostart, autorestart, backoff, request, config,
health, dependency...; an exit: exit, signal, oom, or the cause of a stop: request, config,
health, shutdown...) and under one count without it; and the bytes of its output per
channel (ProcessLogs.written, counted where the output passes, output.py). Made with the
Supervisor, before its groups are added, so boot's starts count. Counts start at zero in
each daemon run (a reload, a live upgrade): Prometheus takes that as a counter reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import ProcessGroupAddedEvent, ProcessGroupRemovedEvent, ProcessStateEvent
from .states import ProcessState

if TYPE_CHECKING:
    from .supervisor import Supervisor

Key = tuple[str, str]  # (group name, process name)
# reason -> count; the reason is "" without the history.
Counts = dict[str, int]
# The states a process enters when its child has just exited (with its pid still set).
_AFTER_EXIT = frozenset({ProcessState.STOPPED, ProcessState.EXITED, ProcessState.BACKOFF})


class ProcessCounters:
    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self.starts: dict[Key, Counts] = {}
        self.exits: dict[Key, Counts] = {}
        events = supervisor.events
        # After the history book's subscription (Supervisor.__init__ opens it first), so a
        # transition's reason is in the book when it is counted here.
        events.subscribe(ProcessStateEvent, self._on_state)
        events.subscribe(ProcessGroupAddedEvent, self._on_group_added)
        events.subscribe(ProcessGroupRemovedEvent, self._on_group_removed)

    def _on_group_added(self, event: ProcessGroupAddedEvent) -> None:
        for process in self._supervisor.groups[event.group].processes.values():
            self._supervisor.logs_of(process).written = {"stdout": 0, "stderr": 0}

    def _on_group_removed(self, event: ProcessGroupRemovedEvent) -> None:
        for table in (self.starts, self.exits):
            for key in [key for key in table if key[0] == event.group]:
                del table[key]

    def _on_state(self, event: ProcessStateEvent) -> None:
        process = event.process
        state = process.state
        if state is ProcessState.STARTING:
            table = self.starts
        elif state in _AFTER_EXIT and event.pid and process.waitstatus is not None:
            table = self.exits
        else:
            return
        key = (process.group_name, process.name)
        book = self._supervisor.history
        last = book.last(*key) if book is not None else None
        reason = last.reason if last is not None else ""
        counts = table.setdefault(key, {})
        counts[reason] = counts.get(reason, 0) + 1
