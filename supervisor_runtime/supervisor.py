"""The daemon core: process groups, spawning, reaping, shutdown and reload.

``Supervisor`` is the ``ProcessHost`` of every ``Process``: it owns the event
loop, the OS layer, the log sinks and the event bus. It keeps an index by pid
(reaping is a dict lookup) and by name (the RPC layer reads state without
scanning every process). The OS layer is a parameter (``OSLayer``, the ``osapi``
module by default), so spawning, reaping and shutdown can run in tests without a
child process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple, Protocol

from . import osapi
from .config.model import (
    AnyGroupConfig,
    EventListenerPoolConfig,
    ProcessConfig,
    SupervisordConfig,
)
from .config.notices import describe
from .config.skip_broken import keep_last_loaded
from .dependencies import DependencyGate
from .events import (
    TICK_EVENTS,
    Event,
    EventBus,
    ProcessGroupAddedEvent,
    ProcessGroupRemovedEvent,
    ProcessStateEvent,
    SupervisorRunningEvent,
    SupervisorStoppingEvent,
    TickEvent,
)
from .health import HealthMonitor
from .logs.childlog import LogFileTable
from .logs.mainlog import MainLog
from .loop import EventLoop, TimerHandle
from .output import ChildOutput, ProcessLogs
from .process import Process
from .signals import decode_wait_status
from .spawnerror import SpawnError
from .states import STOPPED_STATES, ProcessState, SupervisorState

if TYPE_CHECKING:
    from .autostart_queue import AutostartQueue
    from .counters import ProcessCounters
    from .eventpool import EventListenerPool
    from .history import HistoryBook
    from .loop import Callback
    from .upgrade.controller import LiveUpgrade

DEFAULT_PATH = ("/bin", "/usr/bin", "/usr/local/bin")
SHUTDOWN_REPORT_INTERVAL = 3.0


class ProcessGroup:
    """The processes of one group, in priority order."""

    def __init__(self, config: AnyGroupConfig, processes: Iterable[Process]) -> None:
        self.config = config
        self.processes: dict[str, Process] = {p.name: p for p in processes}

    @property
    def name(self) -> str:
        return self.config.name

    def unstopped(self) -> list[Process]:
        return [p for p in self.processes.values() if p.state not in STOPPED_STATES]

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.state in (ProcessState.RUNNING, ProcessState.STARTING):
                process.stop()
            elif process.state is ProcessState.BACKOFF:
                process.give_up()


class OSLayer(Protocol):
    """What the Supervisor needs of the OS layer; the ``osapi`` module is the real one.

    ``spawn`` raises SpawnError with a spawnerr text, or osapi.ExecFailed when the child
    was forked but could not exec (that text also goes to the program's log).
    """

    def spawn(self, request: osapi.SpawnRequest) -> osapi.SpawnedChild: ...
    def kill(self, pid: int, sig: int) -> None: ...
    def reap(self) -> Iterable[tuple[int, int]]: ...
    def release(self, child: osapi.SpawnedChild, status: int) -> None: ...


class _Child(NamedTuple):
    spawned: osapi.SpawnedChild
    output: ChildOutput


class Supervisor:
    def __init__(
        self,
        config: SupervisordConfig,
        log: MainLog,
        loop: EventLoop,
        reload_config: Callable[[], SupervisordConfig] | None = None,
        wallclock: Callable[[], float] = time.time,
        os_layer: OSLayer = osapi,
        previous_history: HistoryBook | None = None,
    ) -> None:
        self.config = config
        self.log = log
        self.loop = loop
        self._os = os_layer
        self.events = EventBus()
        self._reload_config = reload_config
        self._wallclock = wallclock
        self.mood = SupervisorState.RUNNING
        self.next_config: SupervisordConfig | None = None  # set when a reload is accepted
        # The config as last read (at start or by reread) and its notices (skip_broken).
        self.last_read = config
        self.config_notices = config.config_notices
        # Called when a reread changed the notices (the state stream sends a new snapshot).
        self.notice_watchers: list[Callable[[], None]] = []
        self.groups: dict[str, ProcessGroup] = {}
        self._by_pid: dict[int, Process] = {}
        self._children: dict[Process, _Child] = {}
        self._logs: dict[Process, ProcessLogs] = {}
        self._log_files = LogFileTable()
        self.pools: dict[str, EventListenerPool] = {}
        self.identifier = config.identifier
        self._shutdown_report_timer: TimerHandle | None = None
        # The daemon's own environment, read once: copying os.environ decodes every
        # variable again, 0.1 ms a child when 500 start at once.
        self._daemon_environment = dict(os.environ)
        self._stopping_level: list[ProcessGroup] = []
        self._level_check_scheduled = False
        self._ticking: set[type[TickEvent]] = set()  # TICK_n timers running
        self.serverurl = server_url(config)
        # The live upgrade of this daemon (upgrade/controller.py), set by the runner.
        self.upgrader: LiveUpgrade | None = None
        self.events.subscribe(ProcessStateEvent, self._on_process_state)
        # Ours, opt-in: children that are not programs (check commands), by pid.
        self._helpers: dict[int, Callable[[int], None]] = {}
        self.health = HealthMonitor(self)
        self.dependencies = DependencyGate(self)
        # Ours, opt-in ([supervisord] autostart_concurrency): the boot's autostarts waiting.
        self.boot_queue: AutostartQueue | None = None
        # Ours, opt-in ([supervisord] history = true): each process's last transitions.
        self.history: HistoryBook | None = None
        if config.history_size:
            from .history import open_book

            self.history = open_book(self, config.history_size, previous_history)
        # Ours, opt-in ([supervisord] metrics = true): starts, exits and output bytes counted
        # for GET /metrics, from the first start on (after the history: it names reasons).
        self.counters: ProcessCounters | None = None
        if config.metrics:
            from .counters import ProcessCounters

            self.counters = ProcessCounters(self)
        loop.on_error = log.critical
        self.events.on_error = log.critical

    # -- ProcessHost ------------------------------------------------------------

    def wallclock(self) -> float:
        return self._wallclock()

    def call_at_wallclock(self, when: float, callback: Callback) -> TimerHandle:
        return self.loop.call_later(max(0.0, when - self._wallclock()), callback)

    def call_soon(self, callback: Callback) -> None:
        self.loop.call_soon(callback)

    def may_autostart(self) -> bool:
        return self.mood > SupervisorState.RESTARTING

    def publish(self, event: Event) -> None:
        self.events.publish(event)

    def kill(self, pid: int, sig: int) -> None:
        self._os.kill(pid, sig)

    def spawn(self, process: Process) -> int:
        logs = self._logs[process]
        try:
            logs.open()
        except OSError as error:
            raise SpawnError(
                f"unknown error making dispatchers for '{process.name}': {error}"
            ) from None
        request = osapi.SpawnRequest(
            command=process.config.command,
            path=self.search_path(process.config),
            environment=self._child_environment(process),
            directory=process.config.directory,
            umask=process.config.umask,
            uid=process.config.uid,
            redirect_stderr=process.config.redirect_stderr,
        )
        try:
            spawned = self._os.spawn(request)
        except osapi.ExecFailed as error:
            # supervisord's forked child writes this to its stderr, i.e. the log.
            text = f"supervisor: {error}\nsupervisor: child process was not spawned\n"
            logs.feed("stdout" if process.config.redirect_stderr else "stderr", text.encode())
            raise
        self._attach(process, spawned)
        return spawned.pid

    def _attach(self, process: Process, spawned: osapi.SpawnedChild) -> None:
        """Read the child's pipes and know it by its pid (its logs are open)."""
        pool = self.pools.get(process.group_name)
        protocol = (lambda data: pool.feed(process, data)) if pool is not None else None
        output = ChildOutput(self.loop, spawned.pipes, self._logs[process], protocol)
        self._children[process] = _Child(spawned, output)
        self._by_pid[spawned.pid] = process

    def adopt(self, process: Process, pid: int, pipes: osapi.ChildPipes) -> None:
        """Take over a child the daemon had before a live upgrade (it is ours: same pid)."""
        self._logs[process].open()
        self._attach(process, osapi.SpawnedChild(pid, pipes, None))

    def running_child(self, process: Process) -> _Child | None:
        return self._children.get(process)

    def spawn_helper(
        self, process: Process, command: str, on_exit: Callable[[int], None]
    ) -> tuple[int, int | None]:
        """Run ``command`` as ``process`` would run (its user, directory, umask and
        environment), its stdout and stderr into one pipe, for a check; ``on_exit(status)``
        once reaped. Returns (pid, the pipe's read end). Raises SpawnError."""
        config = process.config
        request = osapi.SpawnRequest(
            command=command,
            path=self.search_path(config),
            environment=self._child_environment(process),
            directory=config.directory,
            umask=config.umask,
            uid=config.uid,
            redirect_stderr=True,
        )
        spawned = self._os.spawn(request)
        if spawned.pipes.stdin is not None:
            os.close(spawned.pipes.stdin)  # a check reads no input: EOF at once

        def reaped(status: int) -> None:
            self._os.release(spawned, status)
            on_exit(status)

        self._helpers[spawned.pid] = reaped
        return spawned.pid, spawned.pipes.stdout

    def search_path(self, config: ProcessConfig) -> list[str]:
        """The directories a bare command name of ``config`` is looked up in: its own
        PATH, else the daemon's, else supervisord's default."""
        path = config.environment.get("PATH") or self._daemon_environment.get("PATH")
        return path.split(os.pathsep) if path else list(DEFAULT_PATH)

    def _child_environment(self, process: Process) -> dict[str, str]:
        env = self._daemon_environment.copy()
        env["SUPERVISOR_ENABLED"] = "1"
        serverurl = process.config.serverurl or self.serverurl
        if serverurl:
            env["SUPERVISOR_SERVER_URL"] = serverurl
        env["SUPERVISOR_PROCESS_NAME"] = process.name
        env["SUPERVISOR_GROUP_NAME"] = process.group_name
        env.update(process.config.environment)
        return env

    # -- groups -----------------------------------------------------------------

    def add_group(self, config: AnyGroupConfig) -> bool:
        if config.name in self.groups:
            return False
        is_pool = isinstance(config, EventListenerPoolConfig)
        processes = []
        for pconfig in config.processes:
            process = Process(pconfig, config.name, self)
            self._logs[process] = ProcessLogs(
                process,
                self.config.childlogdir,
                self.config.identifier,
                self.config.strip_ansi,
                self._log_files,
                mainlog=self.log,
                publish=self.publish,
                listener=is_pool,
            )
            processes.append(process)
        group = ProcessGroup(config, processes)
        self.groups[config.name] = group
        if isinstance(config, EventListenerPoolConfig):
            from .eventpool import EventListenerPool  # only for [eventlistener:x]

            self.pools[config.name] = EventListenerPool(config, group.processes, self)
        self.publish(ProcessGroupAddedEvent(config.name))
        return True

    def remove_group(self, name: str) -> bool:
        group = self.groups[name]
        if group.unstopped():
            return False
        for process in group.processes.values():
            self._logs.pop(process).close()
        pool = self.pools.pop(name, None)
        if pool is not None:
            pool.close()
        del self.groups[name]
        self.publish(ProcessGroupRemovedEvent(name))
        return True

    def groups_by_priority(self) -> list[ProcessGroup]:
        return sorted(self.groups.values(), key=lambda g: g.config.priority)

    def all_processes(self) -> Iterable[Process]:
        for group in self.groups_by_priority():
            yield from group.processes.values()

    def logs_of(self, process: Process) -> ProcessLogs:
        return self._logs[process]

    # -- running ------------------------------------------------------------------

    def start(self, adopt: Callable[[], None] | None = None) -> None:
        """Create the configured groups and start what should autostart.

        After a live upgrade, ``adopt`` restores the processes that were handed over
        first (they do not autostart again), and SUPERVISOR_STATE_CHANGE_RUNNING is not
        published: the daemon never stopped running.
        """
        for group_config in self.config.groups:
            self.add_group(group_config)
        if adopt is None:
            self.publish(SupervisorRunningEvent())
        else:
            adopt()
        for tick_type in TICK_EVENTS:
            self._tick_wanted(tick_type)
        self.events.on_subscribe = self._tick_wanted
        autostart = self.dependencies.autostart
        if self.config.autostart_concurrency:  # ours, opt-in: a bounded boot
            from .autostart_queue import AutostartQueue

            self.boot_queue = AutostartQueue(self, self.config.autostart_concurrency)
            autostart = self.boot_queue.add
        for process in list(self.all_processes()):
            autostart(process)

    def _tick_wanted(self, event_type: type) -> None:
        """Start the TICK_n timers that someone now listens to (``event_type`` or a base of
        it subscribed). A TICK nobody hears is never published, so an idle daemon without
        listeners is not woken for it (every 5 s, per tenant on a host); a listener added
        later hears the next wall-clock boundary, as it would have anyway."""
        for tick_type in TICK_EVENTS:
            if (
                tick_type not in self._ticking
                and issubclass(tick_type, event_type)
                and self.events.has_subscribers(tick_type)
            ):
                self._ticking.add(tick_type)
                self._schedule_tick(tick_type)

    def _schedule_tick(self, tick_type: type[TickEvent], boundary: float | None = None) -> None:
        """TICK_n at each wall-clock multiple of n seconds, as supervisord times them.

        Each tick schedules the next boundary after its own, never one computed from a
        clock that may run a little behind the timer (which would repeat a tick). Once
        nobody listens, the timer stops (``_tick_wanted`` starts it again).
        """
        if boundary is None:
            now = self._wallclock()
            boundary = now - now % tick_type.period + tick_type.period

        def fire() -> None:
            if not self.events.has_subscribers(tick_type):
                self._ticking.discard(tick_type)
                return
            self.publish(tick_type(int(boundary)))
            self._schedule_tick(tick_type, boundary + tick_type.period)

        self.call_at_wallclock(boundary, fire)

    def serve(self) -> SupervisorState:
        """Run the loop (after ``start``) until shutdown or restart; the final mood."""
        self.loop.run()
        return self.mood

    def reap(self) -> None:
        for pid, status in self._os.reap():
            process = self._by_pid.pop(pid, None)
            if process is None and pid in self._helpers:
                self._helpers.pop(pid)(status)
                continue
            if process is None:
                _, description = decode_wait_status(status)
                self.log.info(f"reaped unknown pid {pid} ({description})")
                continue
            child = self._children.pop(process)
            try:
                child.output.finish()
                self._os.release(child.spawned, status)
                process.finish(status)
            except Exception as error:
                # Every other child of this batch is already reaped: handle them all.
                self.log.critical(f"error handling the exit of {process.name}: {error!r}")
                process.pid = 0  # never signal a pid the kernel may hand out again

    def reopen_logs(self) -> None:
        self.log.info("supervisord logreopen")
        self.log.reopen()
        for logs in self._logs.values():
            logs.reopen()

    # -- shutdown and reload -------------------------------------------------

    def request_shutdown(self) -> None:
        self._begin_stopping(SupervisorState.SHUTDOWN)

    def reread_config(self) -> SupervisordConfig | None:
        """The configuration as its file says now, applying nothing; None when the daemon
        was given no file to re-read. Raises ValueError when the file is invalid. With
        [include] skip_broken, groups lost to a file now set aside are kept as they run
        (skip_broken.keep_last_loaded) and the notices are logged and replace the old ones."""
        if self._reload_config is None:
            return None
        fresh = self._reload_config()
        if fresh.skip_broken:
            active = {name: group.config for name, group in self.groups.items()}
            fresh = keep_last_loaded(fresh, self.last_read, active)
            for notice in fresh.config_notices:
                self.log.warn(describe(notice.as_struct()))
        self.last_read = fresh
        changed = fresh.config_notices != self.config_notices
        self.config_notices = fresh.config_notices
        if changed:
            for watch in self.notice_watchers:
                watch()
        return fresh

    def request_restart(self) -> None:
        """Reload: the new config is read and checked first; a bad one is refused."""
        if self.mood < SupervisorState.RUNNING:
            return
        if self._reload_config is not None:
            try:
                self.next_config = self._reload_config()
            except ValueError as error:
                self.log.error(f"not reloading, the new configuration is invalid: {error}")
                return
        self._begin_stopping(SupervisorState.RESTARTING)

    def _begin_stopping(self, mood: SupervisorState) -> None:
        already_stopping = self.mood < SupervisorState.RUNNING
        self.mood = min(self.mood, mood)
        if already_stopping:
            return
        self.publish(SupervisorStoppingEvent())
        self._shutdown_report_timer = self.loop.call_later(
            SHUTDOWN_REPORT_INTERVAL, self._shutdown_report
        )
        self._stop_next_level()

    def _stop_next_level(self) -> None:
        """Stop every group of the highest remaining priority at once.

        supervisord stops one group at a time; stopping equal priorities
        together keeps its ordering guarantee (higher priority numbers stop
        first) without waiting stopwaitsecs once per group.
        """
        remaining = [g for g in self.groups_by_priority() if g.unstopped()]
        if not remaining:
            self._finish_stopping()
            return
        top = remaining[-1].config.priority
        self._stopping_level = [g for g in remaining if g.config.priority == top]
        for group in self._stopping_level:
            group.stop_all()
        self._level_check_scheduled = True
        self.loop.call_soon(self._check_level_stopped)

    def _on_process_state(self, event: ProcessStateEvent) -> None:
        stopping = self.mood < SupervisorState.RUNNING
        # Coalesced: a thousand exits reaped in one pass need one check, not a thousand.
        if stopping and event.process.state in STOPPED_STATES and not self._level_check_scheduled:
            self._level_check_scheduled = True
            self.loop.call_soon(self._check_level_stopped)

    def _check_level_stopped(self) -> None:
        self._level_check_scheduled = False
        if self.mood >= SupervisorState.RUNNING:
            return
        if any(g.unstopped() for g in self._stopping_level):
            return
        self._stopping_level = []
        self._stop_next_level()

    def _shutdown_report(self) -> None:
        unstopped = [p for g in self.groups.values() for p in g.unstopped()]
        if unstopped:
            self.log.info(f"waiting for {', '.join(p.name for p in unstopped)} to die")
            for process in unstopped:
                self.log.blather(f"{process.name} state: {process.state.name}")
            self._shutdown_report_timer = self.loop.call_later(
                SHUTDOWN_REPORT_INTERVAL, self._shutdown_report
            )

    def _finish_stopping(self) -> None:
        if self._shutdown_report_timer is not None:
            self._shutdown_report_timer.cancel()
        self.loop.stop()

    def close(self) -> None:
        self.health.close()
        for logs in self._logs.values():
            logs.close()
        self._logs.clear()

    # -- for the XML-RPC namespaces: they read tables only the Supervisor keeps ------

    def diff_to_active(
        self, new_groups: Iterable[AnyGroupConfig]
    ) -> tuple[list[AnyGroupConfig], list[AnyGroupConfig], list[AnyGroupConfig]]:
        """(added, changed, removed) group configs of ``new_groups`` against the active
        groups; "changed" compares the config NamedTuples field by field."""
        new = list(new_groups)
        current = {name: group.config for name, group in self.groups.items()}
        new_names = {config.name for config in new}
        added = [config for config in new if config.name not in current]
        changed = [
            config for config in new if config.name in current and config != current[config.name]
        ]
        removed = [config for name, config in current.items() if name not in new_names]
        return added, changed, removed

    def write_stdin(self, process: Process, data: bytes) -> None:
        """Queue ``data`` for the child's stdin; it is written as the pipe accepts it.

        Raises BrokenPipeError when the child has no open stdin (not running, or it
        closed its end): the caller reports NO_FILE, as supervisord does.
        """
        child = self._children.get(process)
        if child is None:
            raise BrokenPipeError(f"{process.name} is not running")
        child.output.write_stdin(data)


def server_url(config: SupervisordConfig) -> str | None:
    """SUPERVISOR_SERVER_URL for children: the unix socket if any, else the inet one."""
    if config.unix_http_server is not None:
        return f"unix://{config.unix_http_server.file}"
    if config.inet_http_server is not None:
        host = config.inet_http_server.host or "localhost"
        return f"http://{host}:{config.inet_http_server.port}"
    return None
