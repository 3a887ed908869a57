"""Ours, opt-in: ``depends_on``, starting programs in the order of their dependencies.

A process whose ``depends_on`` (config/dependencies.py) names something not ready yet does
not spawn: it *waits*, keeping its state (STOPPED, EXITED...), and what it waits for is
started if it is not running (whatever its own ``autostart``). Once everything it names is
ready (RUNNING and, where a ``readycheck`` is declared, ready), it spawns. Boot
(autostart), ``start``, ``start all`` and ``update`` (addProcessGroup) all go through
``DependencyGate``. A wait ends without a spawn when a dependency becomes FATAL, when
the process is started or stopped otherwise, or at shutdown.

When a dependency leaves RUNNING (stopped, crashed, restarted), each running dependent
follows its ``dependency_stop``: ``leave`` (nothing), ``stop``, or ``restart`` (stopped
now, started again once the dependency is ready again).

A configuration without ``depends_on`` never reaches any of this but ``autostart`` and
``in_start_order``, which hand the process on untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from supervisor_runtime.static_types import TYPE_CHECKING

from .events import ProcessGroupAddedEvent, ProcessGroupRemovedEvent, ProcessStateEvent
from .restarts import restart_process, stop_process
from .states import ProcessState, SupervisorState

if TYPE_CHECKING:
    from .process import Process
    from .supervisor import Supervisor

# settled(error): the waiting process was spawned (None) or will not be (why).
Settled = Callable[[str | None], None]
# States a process can be spawned from.
SPAWNABLE = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.BACKOFF}
)


def namespec(process: Process) -> str:
    name = process.name
    return name if process.group_name == name else f"{process.group_name}:{name}"


class DependencyGate:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.waiting: dict[Process, list[Settled]] = {}
        self._dependents: list[Process] = []  # active processes that declare depends_on
        self._listening = False
        self._release_scheduled = False
        supervisor.events.subscribe(ProcessGroupAddedEvent, self._group_added)
        supervisor.events.subscribe(ProcessGroupRemovedEvent, self._group_removed)
        supervisor.health.on_readiness.append(lambda process: self._schedule_release())

    # -- what a process depends on ------------------------------------------------

    def resolve(self, process: Process) -> tuple[list[Process], list[str]]:
        """(the active processes ``process`` depends on, the names not active now)."""
        found: list[Process] = []
        missing: list[str] = []
        groups = self.supervisor.groups
        for spec in process.config.depends_on:
            group_name, sep, name = spec.partition(":")
            group = groups.get(group_name)
            if group is None:
                missing.append(spec)
            elif not sep or name == "*":
                found.extend(group.processes.values())
            elif name in group.processes:
                found.append(group.processes[name])
            else:
                missing.append(spec)
        return found, missing

    def unmet(self, process: Process) -> list[str]:
        """Namespecs of what ``process`` depends on that is not ready now."""
        if not process.config.depends_on:
            return []
        found, missing = self.resolve(process)
        is_ready = self.supervisor.health.is_ready
        return missing + [namespec(p) for p in found if not is_ready(p)]

    def in_start_order(self, processes: list[Process]) -> list[Process]:
        """``processes`` with each one's dependencies (among them) moved before it; the
        order is otherwise kept (priority). Unchanged without depends_on."""
        if not any(p.config.depends_on for p in processes):
            return processes
        wanted = set(processes)
        ordered: list[Process] = []
        placed: set[Process] = set()

        def place(process: Process) -> None:
            if process in placed:
                return
            placed.add(process)  # before its dependencies: a cycle cannot recurse forever
            for dependency in self.resolve(process)[0]:
                if dependency in wanted:
                    place(dependency)
            ordered.append(process)

        for process in processes:
            place(process)
        return ordered

    # -- starting -----------------------------------------------------------------

    def autostart(self, process: Process) -> None:
        """Boot and addProcessGroup: ``process.autostart()``, after its dependencies."""
        if not process.config.depends_on:
            process.autostart()
        elif (
            process.config.autostart
            and process.state is ProcessState.STOPPED
            and not process.laststart
        ):
            self.start(process)

    def start(self, process: Process, settled: Settled | None = None, pull: bool = True) -> None:
        """Spawn ``process`` now if what it depends on is ready; else (with ``pull``) start
        what is not running among its dependencies, and spawn it once they are all ready."""
        if process in self.waiting:
            if settled is not None:
                self.waiting[process].append(settled)
            return
        unmet = self.unmet(process)
        if not unmet:
            if process.state in SPAWNABLE:
                process.spawn()
            if settled is not None:
                settled(None)
            return
        self.waiting[process] = [] if settled is None else [settled]
        self._listen()
        self.supervisor.log.info(f"waiting: {process.name} waits for {', '.join(unmet)}")
        for dependency in self.resolve(process)[0] if pull else ():
            stopped = dependency.state in (ProcessState.STOPPED, ProcessState.EXITED)
            if (stopped or dependency.state is ProcessState.FATAL) and (
                dependency not in self.waiting
            ):
                self.start(dependency)
        self._schedule_release()

    def cancel(self, process: Process, why: str) -> bool:
        """End the wait of ``process`` without spawning it; False if it was not waiting."""
        settled = self.waiting.pop(process, None)
        if settled is None:
            return False
        for callback in settled:
            callback(why)
        return True

    def _schedule_release(self) -> None:
        if self.waiting and not self._release_scheduled:
            self._release_scheduled = True
            self.supervisor.loop.call_soon(self._release)

    def _release(self) -> None:
        """Spawn each waiting process whose dependencies are all ready now."""
        self._release_scheduled = False
        log = self.supervisor.log
        for process in list(self.waiting):
            if process not in self.waiting:
                continue  # settled by a callback of this pass
            if self.supervisor.mood is not SupervisorState.RUNNING:
                self.cancel(process, "the daemon is stopping")
            elif process.state not in SPAWNABLE:
                self.cancel(process, "it was started otherwise")
            else:
                found, missing = self.resolve(process)
                fatal = [namespec(p) for p in found if p.state is ProcessState.FATAL]
                if fatal:
                    log.warn(f"not starting {process.name}: {', '.join(fatal)} is FATAL")
                    self.cancel(process, f"{', '.join(fatal)} is FATAL")
                elif not missing and all(self.supervisor.health.is_ready(p) for p in found):
                    settled = self.waiting.pop(process)
                    log.info(f"dependencies ready: starting {process.name}")
                    process.spawn()
                    for callback in settled:
                        callback(None)

    # -- a dependency left RUNNING ----------------------------------------------------

    def _state_changed(self, event: ProcessStateEvent) -> None:
        self._schedule_release()
        if event.from_state is not ProcessState.RUNNING or not self._dependents:
            return
        left = event.process
        if self.supervisor.mood is not SupervisorState.RUNNING:
            return  # the shutdown stops everything in priority order
        for dependent in self._dependents:
            if dependent.config.dependency_stop == "leave":
                continue
            if left in self.resolve(dependent)[0]:
                self.supervisor.loop.call_soon(
                    lambda dependent=dependent: self._follow(dependent, left)
                )

    def _follow(self, dependent: Process, left: Process) -> None:
        if dependent.state not in (ProcessState.RUNNING, ProcessState.STARTING):
            return
        reason = f"it depends on {namespec(left)}, which left RUNNING"
        if dependent.config.dependency_stop == "restart":
            restart_process(self.supervisor, dependent, reason, kind="dependency")
            return
        stop_process(self.supervisor, dependent, reason)

    # -- bookkeeping ------------------------------------------------------------------

    def _listen(self) -> None:
        if not self._listening:
            self._listening = True
            self.supervisor.events.subscribe(ProcessStateEvent, self._state_changed)

    def _group_added(self, event: ProcessGroupAddedEvent) -> None:
        group = self.supervisor.groups.get(event.group)
        if group is None:
            return
        added = [p for p in group.processes.values() if p.config.depends_on]
        if added:
            self._dependents.extend(added)
            self._listen()

    def _group_removed(self, event: ProcessGroupRemovedEvent) -> None:
        self._dependents = [p for p in self._dependents if p.group_name != event.group]
        for process in [p for p in self.waiting if p.group_name == event.group]:
            self.cancel(process, "its group was removed")


def waiting_for(gate: DependencyGate, processes: Iterable[Process]) -> dict[Process, list[str]]:
    """What each waiting process among ``processes`` waits for (for status)."""
    return {p: gate.unmet(p) for p in processes if p in gate.waiting}
