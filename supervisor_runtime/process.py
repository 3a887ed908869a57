"""One supervised process: supervisord's state machine, with no OS calls.

Everything that touches the system (spawning, signalling, time, timers,
logging) goes through a ``ProcessHost``, so this module can be driven by a
fake clock and a fake OS in unit tests. Transitions and main-log lines follow
supervisord 4.3.0; the difference is timing: instead of a 1 s polling loop,
each process keeps at most one timer (startsecs, backoff delay or stopwaitsecs)
and acts the moment a child exits.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py

from supervisor_runtime.static_types import TYPE_CHECKING, Protocol

from .config.model import AutoRestart, ProcessConfig
from .events import PROCESS_STATE_EVENTS, Event
from .loop import TimerHandle
from .signals import decode_wait_status, signame
from .spawnerror import SpawnError
from .states import ProcessState

if TYPE_CHECKING:
    from .loop import Callback


class Logger(Protocol):
    def info(self, msg: str) -> None: ...
    def warn(self, msg: str) -> None: ...
    def debug(self, msg: str) -> None: ...
    def critical(self, msg: str) -> None: ...


class ProcessHost(Protocol):
    """What a Process needs from the daemon around it."""

    log: Logger

    def wallclock(self) -> float: ...
    def call_at_wallclock(self, when: float, callback: Callback) -> TimerHandle: ...
    def spawn(self, process: Process) -> int: ...
    def kill(self, pid: int, sig: int) -> None: ...
    def may_autostart(self) -> bool: ...
    def publish(self, event: Event) -> None: ...


class Process:
    def __init__(self, config: ProcessConfig, group_name: str, host: ProcessHost) -> None:
        self.config = config
        self.group_name = group_name
        self.host = host
        self.state = ProcessState.STOPPED
        self.pid = 0
        self.laststart = 0.0
        self.laststop = 0.0
        self.delay = 0.0  # deadline of the current BACKOFF or STOPPING wait
        self.backoff = 0  # spawn attempts that failed in a row
        self.spawnerr: str | None = None
        self.exitstatus: int | None = None
        self.waitstatus: int | None = None  # of the last exit, as waitpid gave it
        self.killing = False  # a stop signal was sent; the next exit is a stop
        self.administrative_stop = False
        self.system_stop = False
        self._timer: TimerHandle | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"<Process {self.group_name}:{self.name} {self.state.name} pid={self.pid}>"

    # -- state bookkeeping -------------------------------------------------

    def _change_state(self, new: ProcessState, expected: bool = True) -> None:
        old = self.state
        if new is old:
            return
        self.state = new
        if new is ProcessState.BACKOFF:
            self.backoff += 1
            if self.config.backoff is None:
                self.delay = self.host.wallclock() + self.backoff
            else:  # ours, opt-in: exponential, capped, jittered
                from .backoff import backoff_delay  # loaded by the programs that opt in

                wait = backoff_delay(self.config.backoff, self.backoff)
                self.delay = self.host.wallclock() + wait
        event_class = PROCESS_STATE_EVENTS[new]
        self.host.publish(
            event_class(self, old, expected=expected, tries=self.backoff, pid=self.pid)
        )

    def _assert_in(self, *states: ProcessState) -> None:
        if self.state not in states:
            allowed = " ".join(s.name for s in states)
            raise AssertionError(
                f"Assertion failed for {self.name}: {self.state.name} not in {allowed}"
            )

    def _set_timer(self, when: float, callback: Callback) -> None:
        self._cancel_timer()
        self._timer = self.host.call_at_wallclock(when, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- starting ------------------------------------------------------------

    def spawn(self) -> int | None:
        """Start the child (STOPPED/EXITED/FATAL/BACKOFF -> STARTING)."""
        if self.pid:
            self.host.log.warn(f"process '{self.name}' already running")
            return None
        self._cancel_timer()
        self.killing = False
        self.spawnerr = None
        self.exitstatus = None
        self.system_stop = False
        self.administrative_stop = False
        self.laststart = self.host.wallclock()
        self._assert_in(
            ProcessState.EXITED, ProcessState.FATAL, ProcessState.BACKOFF, ProcessState.STOPPED
        )
        self._change_state(ProcessState.STARTING)
        try:
            pid = self.host.spawn(self)
        except SpawnError as error:
            self._record_spawn_error(str(error))
            return None
        self.pid = pid
        self.host.log.info(f"spawned: '{self.name}' with pid {pid}")
        self.delay = self.laststart + self.config.startsecs
        # supervisord moves to RUNNING once *more than* startsecs have passed.
        self._set_timer(self.delay, self._check_started)
        return pid

    def _record_spawn_error(self, message: str) -> None:
        self.spawnerr = message
        self.host.log.info(f"spawnerr: {message}")
        self._assert_in(ProcessState.STARTING)
        self._change_state(ProcessState.BACKOFF)
        self._after_backoff()

    def check_started(self) -> None:
        """RUNNING now if startsecs have already passed (startsecs=0), rather than at the
        timer: supervisord's startProcess runs one transition() before it answers, so such
        a process is started, not waited for, when the call returns."""
        if (
            self.state is ProcessState.STARTING
            and self.host.wallclock() - self.laststart >= self.config.startsecs
        ):
            self._cancel_timer()
            self._check_started()

    def _check_started(self) -> None:
        self._timer = None
        if self.state is not ProcessState.STARTING:
            return
        if self.host.wallclock() - self.laststart < self.config.startsecs:
            # The wall clock went backwards; wait the remaining time again.
            self._set_timer(self.laststart + self.config.startsecs, self._check_started)
            return
        self.delay = 0
        self.backoff = 0
        self._change_state(ProcessState.RUNNING)
        self.host.log.info(
            f"success: {self.name} entered RUNNING state, process has stayed up for "
            f"> than {self.config.startsecs} seconds (startsecs)"
        )

    def _after_backoff(self) -> None:
        """BACKOFF: retry after the delay, or give up after startretries (never with
        backoff = exponential)."""
        if self.config.backoff is None and self.backoff > self.config.startretries:
            self.give_up()
            self.host.log.info(
                f"gave up: {self.name} entered FATAL state, too many start retries too quickly"
            )
            return
        if self.config.backoff is not None:
            wait = max(0.0, self.delay - self.host.wallclock())
            self.host.log.info(f"backoff: {self.name} retries in {wait:.3g} s (try {self.backoff})")
        self._set_timer(self.delay, self._retry_from_backoff)

    def _retry_from_backoff(self) -> None:
        self._timer = None
        if self.state is ProcessState.BACKOFF and self.host.may_autostart():
            self.spawn()

    def give_up(self) -> None:
        self._cancel_timer()
        self.delay = 0
        self.backoff = 0
        self.system_stop = True
        self._assert_in(ProcessState.BACKOFF)
        self._change_state(ProcessState.FATAL)

    # -- stopping and signals ------------------------------------------------

    def stop(self) -> str | None:
        """Administrative stop: send stopsignal, SIGKILL after stopwaitsecs."""
        self.administrative_stop = True
        return self.kill(self.config.stopsignal)

    def kill(self, sig: int) -> str | None:
        """Signal the child meaning to end it; returns an error text or None."""
        if self.state is ProcessState.BACKOFF:
            # Waiting out a backoff would block a stop for startretries seconds.
            self.host.log.debug(f"Attempted to kill {self.name}, which is in BACKOFF state.")
            self._cancel_timer()
            self._change_state(ProcessState.STOPPED)
            return None
        if not self.pid:
            message = f"attempted to kill {self.name} with sig {signame(sig)} but it wasn't running"
            self.host.log.debug(message)
            return message
        # The first signal honours stopasgroup; the SIGKILL after stopwaitsecs killasgroup.
        as_group = (
            self.config.killasgroup
            if self.state is ProcessState.STOPPING
            else self.config.stopasgroup
        )
        group_text = "process group " if as_group else ""
        self.host.log.debug(
            f"killing {self.name} (pid {self.pid}) {group_text}with signal {signame(sig)}"
        )
        self.killing = True
        self.delay = self.host.wallclock() + self.config.stopwaitsecs
        self._assert_in(ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING)
        self._change_state(ProcessState.STOPPING)
        self._set_timer(self.delay, self._stop_timed_out)
        return self._send(-self.pid if as_group else self.pid, sig, "killing")

    def _stop_timed_out(self) -> None:
        self._timer = None
        if self.state is not ProcessState.STOPPING:
            return
        self.host.log.warn(f"killing '{self.name}' ({self.pid}) with SIGKILL")
        self.kill(signal.SIGKILL)

    def signal(self, sig: int) -> str | None:
        """Send any signal without meaning to stop the child."""
        if not self.pid:
            message = f"attempted to send {self.name} sig {signame(sig)} but it wasn't running"
            self.host.log.debug(message)
            return message
        self.host.log.debug(f"sending {self.name} (pid {self.pid}) sig {signame(sig)}")
        self._assert_in(ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING)
        return self._send(self.pid, sig, "sending sig")

    def _send(self, target: int, sig: int, verb: str) -> str | None:
        try:
            self.host.kill(target, sig)
        except ProcessLookupError as error:
            # Already gone: its exit will be handled when it is reaped.
            self.host.log.debug(
                f"unable to signal {self.name} (pid {self.pid}), it probably just exited "
                f"on its own: {error}"
            )
        except OSError as error:
            message = f"unknown problem {verb} {self.name} ({self.pid}):{error}"
            self.host.log.critical(message)
            self._cancel_timer()
            self._change_state(ProcessState.UNKNOWN)
            self.killing = False
            self.delay = 0
            return message
        return None

    # -- the child exited -----------------------------------------------------

    def finish(self, status: int) -> None:
        """The child was reaped with wait status ``status`` (its output already drained)."""
        self._cancel_timer()
        self.waitstatus = status
        code, description = decode_wait_status(status)
        now = self.host.wallclock()
        self.laststop = now
        if now >= self.laststart:
            too_quickly = now - self.laststart < self.config.startsecs
        else:
            too_quickly = False
            self.host.log.warn(
                f"process '{self.name}' ({self.pid}) laststart time is in the future, don't "
                "know how long process was running so assuming it did not exit too quickly"
            )
        expected = code in self.config.exitcodes

        if self.killing:
            # STOPPING -> STOPPED: the exit we asked for.
            self.killing = False
            self.delay = 0
            self.exitstatus = code
            self._assert_in(ProcessState.STOPPING)
            self._change_state(ProcessState.STOPPED)
            message = f"stopped: {self.name} ({description})"
            (self.host.log.info if expected else self.host.log.warn)(message)
        elif too_quickly and self.state is ProcessState.STARTING:
            # STARTING -> BACKOFF: it never reached RUNNING.
            self.exitstatus = None
            self.spawnerr = "Exited too quickly (process log may have details)"
            self._assert_in(ProcessState.STARTING)
            self._change_state(ProcessState.BACKOFF)
            self.host.log.warn(f"exited: {self.name} ({description}; not expected)")
        else:
            # RUNNING -> EXITED (STARTING first if the clock made us miss RUNNING).
            self.delay = 0
            self.backoff = 0
            self.exitstatus = code
            if self.state is ProcessState.STARTING:
                self._change_state(ProcessState.RUNNING)
            self._assert_in(ProcessState.RUNNING)
            if expected:
                self._change_state(ProcessState.EXITED, expected=True)
                self.host.log.info(f"exited: {self.name} ({description}; expected)")
            else:
                self.spawnerr = f"Bad exit code {code}"
                self._change_state(ProcessState.EXITED, expected=False)
                self.host.log.warn(f"exited: {self.name} ({description}; not expected)")

        self.pid = 0
        self._after_exit()

    def _after_exit(self) -> None:
        if self.state is ProcessState.BACKOFF:
            self._after_backoff()
        elif self.state is ProcessState.EXITED and self._should_restart():
            # EXITED -> STARTING at once (supervisord waits for its next tick).
            self.spawn()

    def _should_restart(self) -> bool:
        if not self.host.may_autostart():
            return False
        policy = self.config.autorestart
        if policy is AutoRestart.ALWAYS:
            return True
        if policy is AutoRestart.UNEXPECTED:
            return self.exitstatus not in self.config.exitcodes
        return False

    def resume(self) -> None:
        """After a live upgrade restored this process's fields: re-arm the one timer its
        state waits on (startsecs, the backoff retry or the SIGKILL after stopwaitsecs),
        at the deadline the old daemon had set."""
        if self.state is ProcessState.STARTING:
            self._set_timer(self.laststart + self.config.startsecs, self._check_started)
        elif self.state is ProcessState.BACKOFF:
            self._set_timer(self.delay, self._retry_from_backoff)
        elif self.state is ProcessState.STOPPING:
            self._set_timer(self.delay, self._stop_timed_out)

    def autostart(self) -> None:
        """Start at daemon start-up if configured to and never started yet."""
        if self.state is ProcessState.STOPPED and not self.laststart and self.config.autostart:
            self.spawn()
