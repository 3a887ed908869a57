"""Shutdown by priority level, driven through a fake OS layer and a fake clock.

The Supervisor runs on a real EventLoop whose clock (and the Supervisor's wall clock)
is a number the test moves forward; the OS layer only records signals and hands back
the exits a test declares. One ``turn()`` is one loop iteration with nothing to wait
for: due timers, then what they scheduled.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from supervisor_runtime.config.model import (
    GroupConfig,
    ProcessConfig,
    StreamConfig,
    SupervisordConfig,
)
from supervisor_runtime.loop import EventLoop
from supervisor_runtime.osapi import ChildPipes, SpawnedChild, SpawnRequest
from supervisor_runtime.states import ProcessState as S
from supervisor_runtime.supervisor import Supervisor

TERM = int(signal.SIGTERM)
KILL = int(signal.SIGKILL)


def exited(code: int) -> int:
    """A wait status for a normal exit with ``code``."""
    return code << 8


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level: str) -> Callable[[str], None]:
        return lambda msg: self.lines.append(f"{level.upper()} {msg}")


class FakeOS:
    """Children that exist only as pids: signals are recorded, exits are declared."""

    def __init__(self) -> None:
        self._pids = itertools.count(100)
        self.commands: dict[int, str] = {}  # pid -> the command it was spawned with
        self.signals: list[tuple[int, int]] = []
        self.released: list[int] = []
        self._exited: list[tuple[int, int]] = []

    def spawn(self, request: SpawnRequest) -> SpawnedChild:
        pid = next(self._pids)
        self.commands[pid] = request.command
        return SpawnedChild(pid=pid, pipes=ChildPipes(None, None, None), popen=None)

    def kill(self, pid: int, sig: int) -> None:
        self.signals.append((pid, sig))

    def reap(self) -> list[tuple[int, int]]:
        reaped, self._exited = self._exited, []
        return reaped

    def release(self, child: SpawnedChild, status: int) -> None:
        self.released.append(child.pid)

    def exit(self, pid: int, status: int = exited(0)) -> None:
        self._exited.append((pid, status))

    def pid_of(self, command: str) -> int:
        (pid,) = [pid for pid, spawned in self.commands.items() if spawned == command]
        return pid


class RecordingLoop(EventLoop):
    """An EventLoop that remembers being told to stop (the end of a shutdown)."""

    stopped = False

    def stop(self) -> None:
        self.stopped = True
        super().stop()


class Daemon:
    """A Supervisor on the fakes, with the moves a test needs."""

    def __init__(self, groups: tuple[GroupConfig, ...]) -> None:
        self.clock = FakeClock()
        self.os = FakeOS()
        self.log = FakeLog()
        self.loop = RecordingLoop(clock=self.clock)
        config = SupervisordConfig(config_path="/fake/supervisord.conf", here="/fake")
        self.supervisor = Supervisor(
            config._replace(groups=groups),
            self.log,  # type: ignore[arg-type]
            self.loop,
            wallclock=self.clock,
            os_layer=self.os,
        )

    def turn(self) -> None:
        self.loop.run_once(max_wait=0)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.turn()

    def start(self) -> None:
        self.supervisor.start()
        self.turn()  # startsecs=0: every process is RUNNING after one turn

    def exit(self, *groups: str) -> None:
        """The processes of ``groups`` exit; the daemon reaps them as on SIGCHLD."""
        for name in groups:
            for process in self.supervisor.groups[name].processes.values():
                self.os.exit(process.pid)
        self.supervisor.reap()
        self.turn()

    def signalled(self) -> list[tuple[str, int]]:
        """(command, signal) of every signal sent so far, in order."""
        return [(self.os.commands[pid], sig) for pid, sig in self.os.signals]

    def state(self, group: str) -> set[S]:
        return {p.state for p in self.supervisor.groups[group].processes.values()}

    def close(self) -> None:
        self.supervisor.close()
        self.loop.close()
        # The loop reports a callback's exception to the log and goes on: a test that
        # only looked at signals would not see it.
        assert not [line for line in self.log.lines if line.startswith("CRITICAL")]


def group(name: str, priority: int, processes: int = 1, **overrides: Any) -> GroupConfig:
    """A group of ``processes`` programs named ``name`` (or name_0, name_1...).

    Each one's command is its name, so the fake OS's record says who was signalled.
    """
    names = [name] if processes == 1 else [f"{name}_{i}" for i in range(processes)]
    no_log = StreamConfig(logfile=None)
    configs = tuple(
        ProcessConfig(
            name=pname,
            program_name=name,
            group_name=name,
            command=pname,
            priority=priority,
            startsecs=0,
            stdout=no_log,
            stderr=no_log,
        )._replace(**overrides)
        for pname in names
    )
    return GroupConfig(name=name, priority=priority, processes=configs)


@pytest.fixture
def make_daemon() -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(*groups: GroupConfig) -> Daemon:
        daemon = Daemon(groups)
        made.append(daemon)
        daemon.start()
        return daemon

    yield make
    for daemon in made:
        daemon.close()


def test_the_highest_priority_number_stops_first(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon(group("db", 100), group("web", 900), group("cache", 500))
    assert all(daemon.state(g) == {S.RUNNING} for g in ("db", "web", "cache"))

    daemon.supervisor.request_shutdown()
    daemon.turn()
    assert daemon.signalled() == [("web", TERM)]
    assert daemon.state("web") == {S.STOPPING}
    assert daemon.state("cache") == daemon.state("db") == {S.RUNNING}

    daemon.exit("web")
    assert daemon.signalled()[1:] == [("cache", TERM)]
    daemon.exit("cache")
    assert daemon.signalled()[2:] == [("db", TERM)]
    assert not daemon.loop.stopped
    daemon.exit("db")
    assert daemon.loop.stopped
    assert len(daemon.os.signals) == 3


def test_every_group_of_one_priority_is_stopped_at_once(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(
        group("low", 1),
        group("a", 5, processes=2),
        group("b", 5),
        group("c", 5),
    )
    daemon.supervisor.request_shutdown()
    daemon.turn()
    signalled = daemon.signalled()
    assert sorted(signalled) == [("a_0", TERM), ("a_1", TERM), ("b", TERM), ("c", TERM)]
    # Within a group the last process (in priority order) is stopped first.
    assert signalled.index(("a_1", TERM)) < signalled.index(("a_0", TERM))
    assert daemon.state("low") == {S.RUNNING}


def test_the_next_level_waits_for_every_group_of_this_one(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(group("low", 1), group("a", 5), group("b", 5, processes=2))
    daemon.supervisor.request_shutdown()
    daemon.turn()
    assert len(daemon.os.signals) == 3

    daemon.exit("a")
    assert daemon.state("a") == {S.STOPPED}
    assert len(daemon.os.signals) == 3
    # One process of b is still STOPPING: low must wait.
    b_0 = daemon.supervisor.groups["b"].processes["b_0"]
    daemon.os.exit(b_0.pid)
    daemon.supervisor.reap()
    daemon.turn()
    assert daemon.state("b") == {S.STOPPED, S.STOPPING}
    assert len(daemon.os.signals) == 3
    assert daemon.state("low") == {S.RUNNING}

    b_1 = daemon.supervisor.groups["b"].processes["b_1"]
    daemon.os.exit(b_1.pid)
    daemon.supervisor.reap()
    daemon.turn()
    assert daemon.signalled()[3:] == [("low", TERM)]
    assert not daemon.loop.stopped
    daemon.exit("low")
    assert daemon.loop.stopped


def test_stopwaitsecs_escalates_to_sigkill_before_the_next_level(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(group("low", 1), group("stubborn", 9, stopwaitsecs=5))
    daemon.supervisor.request_shutdown()
    daemon.turn()
    assert daemon.signalled() == [("stubborn", TERM)]

    daemon.advance(4.9)  # it ignores SIGTERM
    assert daemon.signalled() == [("stubborn", TERM)]
    assert daemon.state("stubborn") == {S.STOPPING}
    daemon.advance(0.1)
    assert daemon.signalled() == [("stubborn", TERM), ("stubborn", KILL)]
    pid = daemon.os.pid_of("stubborn")
    assert f"WARN killing 'stubborn' ({pid}) with SIGKILL" in daemon.log.lines
    assert daemon.state("low") == {S.RUNNING}

    daemon.exit("stubborn")
    assert daemon.signalled()[2:] == [("low", TERM)]


def test_one_stopwaitsecs_wait_per_level_not_per_group(
    make_daemon: Callable[..., Daemon],
) -> None:
    """Groups of one level wait out their stopwaitsecs side by side."""
    daemon = make_daemon(group("x", 3, stopwaitsecs=2), group("y", 3, stopwaitsecs=2))
    daemon.supervisor.request_shutdown()
    daemon.turn()
    assert sorted(daemon.signalled()) == [("x", TERM), ("y", TERM)]
    daemon.advance(2)
    assert sorted(daemon.signalled()[2:]) == [("x", KILL), ("y", KILL)]
    daemon.exit("x", "y")
    assert daemon.loop.stopped


def test_processes_already_stopped_do_not_hold_up_their_level(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(group("low", 1), group("idle", 7, autostart=False))
    assert daemon.state("idle") == {S.STOPPED}
    daemon.supervisor.request_shutdown()
    daemon.turn()
    assert daemon.signalled() == [("low", TERM)]
    daemon.exit("low")
    assert daemon.loop.stopped
    assert daemon.os.released == [daemon.os.pid_of("low")]
