"""The process state machine under a fake clock and a fake OS."""

from __future__ import annotations

import heapq
import itertools
import os
import signal
from collections.abc import Callable

import pytest

from supervisor_runtime.config.model import AutoRestart, ProcessConfig
from supervisor_runtime.events import Event
from supervisor_runtime.process import Process
from supervisor_runtime.spawnerror import SpawnError
from supervisor_runtime.states import ProcessState as S


def exited(code: int) -> int:
    """A wait status for a normal exit with ``code``."""
    return code << 8


def killed(signum: int) -> int:
    return signum


class FakeTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level: str) -> Callable[[str], None]:
        return lambda msg: self.lines.append(f"{level.upper()} {msg}")


class FakeHost:
    def __init__(self) -> None:
        self.now = 1000.0
        self.log = FakeLog()
        self.timers: list[tuple[float, int, FakeTimer, Callable[[], object]]] = []
        self._seq = itertools.count()
        self.pids = itertools.count(100)
        self.spawn_errors: list[str] = []
        self.signals: list[tuple[int, int]] = []
        self.events: list[Event] = []
        self.autostart_allowed = True

    def wallclock(self) -> float:
        return self.now

    def call_at_wallclock(self, when: float, callback: Callable[[], object]) -> FakeTimer:
        timer = FakeTimer()
        heapq.heappush(self.timers, (when, next(self._seq), timer, callback))
        return timer

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self.timers and self.timers[0][0] <= target:
            when, _, timer, callback = heapq.heappop(self.timers)
            self.now = max(self.now, when)
            if not timer.cancelled:
                callback()
        self.now = target

    def spawn(self, process: Process) -> int:
        if self.spawn_errors:
            raise SpawnError(self.spawn_errors.pop(0))
        return next(self.pids)

    def kill(self, pid: int, sig: int) -> None:
        self.signals.append((pid, sig))

    def may_autostart(self) -> bool:
        return self.autostart_allowed

    def publish(self, event: Event) -> None:
        self.events.append(event)


def make(host: FakeHost, **overrides: object) -> Process:
    config = ProcessConfig(name="app", program_name="app", group_name="app", command="/bin/true")
    return Process(config._replace(**overrides), "app", host)


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


def test_spawn_then_running_after_startsecs(host: FakeHost) -> None:
    process = make(host, startsecs=1)
    process.autostart()
    assert process.state is S.STARTING and process.pid == 100
    assert host.log.lines == ["INFO spawned: 'app' with pid 100"]
    host.advance(0.5)
    assert process.state is S.STARTING
    host.advance(0.6)
    assert process.state is S.RUNNING
    assert host.log.lines[-1] == (
        "INFO success: app entered RUNNING state, process has stayed up for > than 1 "
        "seconds (startsecs)"
    )


def test_startsecs_zero_is_running_at_once(host: FakeHost) -> None:
    process = make(host, startsecs=0)
    process.spawn()
    host.advance(0)
    assert process.state is S.RUNNING


def test_check_started_makes_startsecs_zero_running_without_the_timer(host: FakeHost) -> None:
    process = make(host, startsecs=0)
    process.spawn()
    process.check_started()
    assert process.state is S.RUNNING
    assert [e.name for e in host.events].count("PROCESS_STATE_RUNNING") == 1
    host.advance(1)  # the cancelled timer does nothing more
    assert [e.name for e in host.events].count("PROCESS_STATE_RUNNING") == 1
    slow = make(host, startsecs=1)
    slow.spawn()
    slow.check_started()
    assert slow.state is S.STARTING
    host.advance(1.1)
    assert slow.state is S.RUNNING


def test_autostart_false_does_nothing(host: FakeHost) -> None:
    process = make(host, autostart=False)
    process.autostart()
    assert process.state is S.STOPPED and process.pid == 0


def test_unexpected_exit_restarts_immediately(host: FakeHost) -> None:
    process = make(host, startsecs=1)
    process.spawn()
    host.advance(2)
    process.finish(exited(1))
    assert host.log.lines[-2] == "WARN exited: app (exit status 1; not expected)"
    assert process.state is S.STARTING and process.pid == 101
    assert process.spawnerr is None


def test_expected_exit_is_not_restarted_with_autorestart_unexpected(host: FakeHost) -> None:
    process = make(host, startsecs=1, exitcodes=(0, 2))
    process.spawn()
    host.advance(2)
    process.finish(exited(2))
    assert process.state is S.EXITED and process.exitstatus == 2
    assert host.log.lines[-1] == "INFO exited: app (exit status 2; expected)"


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        (AutoRestart.ALWAYS, 0, True),
        (AutoRestart.ALWAYS, 1, True),
        (AutoRestart.NEVER, 1, False),
        (AutoRestart.UNEXPECTED, 0, False),
        (AutoRestart.UNEXPECTED, 3, True),
    ],
)
def test_autorestart_policies(host: FakeHost, policy: AutoRestart, code: int, restarts: bool):
    process = make(host, startsecs=1, autorestart=policy)
    process.spawn()
    host.advance(2)
    process.finish(exited(code))
    assert (process.state is S.STARTING) is restarts


def test_backoff_delays_grow_then_fatal(host: FakeHost) -> None:
    process = make(host, startsecs=1, startretries=3)
    process.spawn()
    spawn_times = [host.now]
    for _ in range(4):
        process.finish(exited(1))  # exits at once: too quickly
        if process.state is S.FATAL:
            break
        assert process.state is S.BACKOFF
        while process.state is S.BACKOFF:
            host.advance(0.25)
        spawn_times.append(host.now)
    delays = [round(b - a) for a, b in itertools.pairwise(spawn_times)]
    assert delays == [1, 2, 3]  # 1 + startretries spawns in all
    assert process.state is S.FATAL
    assert host.log.lines[-1] == (
        "INFO gave up: app entered FATAL state, too many start retries too quickly"
    )
    assert process.spawnerr == "Exited too quickly (process log may have details)"


def test_spawn_error_goes_to_backoff_and_fatal(host: FakeHost) -> None:
    host.spawn_errors = ["can't find command '/nope'"] * 10
    process = make(host, startretries=1)
    process.spawn()
    assert process.state is S.BACKOFF
    assert "INFO spawnerr: can't find command '/nope'" in host.log.lines
    host.advance(1.5)
    assert process.state is S.FATAL
    assert process.spawnerr == "can't find command '/nope'"


def test_stop_sends_stopsignal_then_sigkill_after_stopwaitsecs(host: FakeHost) -> None:
    process = make(host, startsecs=0, stopsignal=signal.SIGINT, stopwaitsecs=5)
    process.spawn()
    host.advance(0)
    process.stop()
    assert process.state is S.STOPPING
    assert host.signals == [(100, signal.SIGINT)]
    host.advance(4.9)
    assert host.signals == [(100, signal.SIGINT)]
    host.advance(0.2)
    assert host.signals[-1] == (100, signal.SIGKILL)
    assert "WARN killing 'app' (100) with SIGKILL" in host.log.lines
    process.finish(killed(signal.SIGKILL))
    assert process.state is S.STOPPED
    assert host.log.lines[-1] == "WARN stopped: app (terminated by SIGKILL)"


def test_stopasgroup_and_killasgroup_signal_the_process_group(host: FakeHost) -> None:
    process = make(host, startsecs=0, stopasgroup=True, killasgroup=True, stopwaitsecs=1)
    process.spawn()
    process.stop()
    host.advance(1.1)
    assert host.signals == [(-100, signal.SIGTERM), (-100, signal.SIGKILL)]


def test_killasgroup_alone_only_for_the_sigkill(host: FakeHost) -> None:
    process = make(host, startsecs=0, killasgroup=True, stopwaitsecs=1)
    process.spawn()
    process.stop()
    host.advance(1.1)
    assert host.signals == [(100, signal.SIGTERM), (-100, signal.SIGKILL)]


def test_stop_is_not_restarted(host: FakeHost) -> None:
    process = make(host, startsecs=0, autorestart=AutoRestart.ALWAYS)
    process.spawn()
    process.stop()
    process.finish(exited(0))
    assert process.state is S.STOPPED
    assert host.log.lines[-1] == "INFO stopped: app (exit status 0)"


def test_stop_in_backoff_goes_straight_to_stopped(host: FakeHost) -> None:
    process = make(host, startsecs=5)
    process.spawn()
    process.finish(exited(1))
    assert process.state is S.BACKOFF
    assert process.stop() is None
    assert process.state is S.STOPPED
    host.advance(10)
    assert process.state is S.STOPPED  # the retry timer was cancelled


def test_no_restart_while_shutting_down(host: FakeHost) -> None:
    process = make(host, startsecs=0, autorestart=AutoRestart.ALWAYS)
    process.spawn()
    host.autostart_allowed = False
    process.finish(exited(1))
    assert process.state is S.EXITED


def test_signal_when_not_running_reports(host: FakeHost) -> None:
    process = make(host)
    assert process.signal(signal.SIGHUP) == (
        "attempted to send app sig SIGHUP but it wasn't running"
    )


def test_kill_error_other_than_esrch_makes_unknown(host: FakeHost) -> None:
    process = make(host, startsecs=0)
    process.spawn()

    def refuse(pid: int, sig: int) -> None:
        raise PermissionError(1, os.strerror(1))

    host.kill = refuse  # type: ignore[method-assign]
    message = process.stop()
    assert message is not None and message.startswith("unknown problem killing app (100)")
    assert process.state is S.UNKNOWN


def test_state_events_carry_from_state(host: FakeHost) -> None:
    process = make(host, startsecs=0)
    process.spawn()
    host.advance(0)
    names = [(type(e).name, e.from_state.name) for e in host.events]  # type: ignore[attr-defined]
    assert names == [("PROCESS_STATE_STARTING", "STOPPED"), ("PROCESS_STATE_RUNNING", "STARTING")]
