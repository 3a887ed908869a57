"""Ours, opt-in: ``[supervisord] autostart_concurrency = N``, at most N autostarts at once.

At boot (and after a reload) supervisord starts every ``autostart`` program at once. With a
thousand programs that are each an expensive start (a host's tenant containers), the host
runs a thousand starts side by side and thrashes (load average 609 on 2 cores). With this
key the boot's autostarts go through a queue, in supervisord's order (priority, then
name): one spawns while fewer than N of the queue's are STARTING; each that leaves
STARTING (RUNNING, BACKOFF, EXITED, STOPPING...) lets the next one go.

Nothing else waits: ``start``, ``restart``, ``stop``, ``update`` (addProcessGroup), an
autorestart or a backoff retry act at once and take no place in the queue. A program
started by hand while it waits is started then (its turn does nothing); a group removed
while it waits is left out; shutdown empties the queue. A program still waiting is
STOPPED, as one not started yet, so a ``stop`` of it is refused as not running. sd_notify's
READY waits for the queue to be empty (and its last ones to leave STARTING).

Without the key (0, the default) none of this exists: the boot starts every program at
once, as stock does. Stock 4.3.0 loads a file with the key and ignores it.
"""

from __future__ import annotations

from collections import deque

from supervisor_runtime.static_types import TYPE_CHECKING

from .events import ProcessStateEvent
from .states import ProcessState

if TYPE_CHECKING:
    from .process import Process
    from .supervisor import Supervisor


class AutostartQueue:
    def __init__(self, supervisor: Supervisor, limit: int) -> None:
        self.supervisor = supervisor
        self.limit = limit
        self.waiting: deque[Process] = deque()
        self.starting: set[Process] = set()  # spawned from the queue, still STARTING
        self._refill_scheduled = False
        self._watching = False

    def add(self, process: Process) -> None:
        """Boot: ``process`` autostarts in its turn (at once if a place is free)."""
        if process.config.autostart and process.state is ProcessState.STOPPED:
            self.waiting.append(process)
            self._watch(True)
            self._refill()

    def _watch(self, on: bool) -> None:
        """Follow state changes only while the queue has work: none once it is done."""
        if on != self._watching:
            self._watching = on
            change = self.supervisor.events.subscribe if on else self.supervisor.events.unsubscribe
            change(ProcessStateEvent, self._on_state)

    def _on_state(self, event: ProcessStateEvent) -> None:
        process = event.process
        if process in self.starting and process.state is not ProcessState.STARTING:
            self.starting.discard(process)  # type: ignore[arg-type]
            # Not from inside the transition that published this: on the loop, once for
            # all the processes that left STARTING in one pass.
            if not self._refill_scheduled:
                self._refill_scheduled = True
                self.supervisor.loop.call_soon(self._refill)

    def _refill(self) -> None:
        self._refill_scheduled = False
        supervisor = self.supervisor
        if not supervisor.may_autostart():  # shutdown or reload: nothing more starts
            self.waiting.clear()
        while self.waiting and len(self.starting) < self.limit:
            process = self.waiting.popleft()
            group = supervisor.groups.get(process.group_name)
            if group is None or group.processes.get(process.name) is not process:
                continue  # removed (update) while it waited
            supervisor.dependencies.autostart(process)  # a no-op if started meanwhile
            if process.state is ProcessState.STARTING:
                self.starting.add(process)
        if not self.waiting and not self.starting:
            self._watch(False)
