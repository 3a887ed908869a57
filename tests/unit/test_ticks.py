"""TICK_5/60/3600 run only while someone listens: an idle daemon without listeners has no
timer to wake for (one wake-up every 5 s per tenant runtime on a host, for nothing), and a
listener that subscribes later hears the next wall-clock boundary, as with supervisord.
A Supervisor on the fake OS layer and clock of test_shutdown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supervisor_runtime.events import Event, Tick5Event, Tick60Event, Tick3600Event
from tests.unit.test_shutdown import Daemon, group


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """Started with one program and no listener; the fake clock says 1000.0."""
    made = Daemon((group("app", 1),))
    made.start()
    yield made
    made.close()


def pending_timers(daemon: Daemon) -> int:
    return sum(1 for _when, _seq, handle in daemon.loop._timers if not handle.cancelled)


def test_an_idle_daemon_without_listeners_has_no_timer(daemon: Daemon) -> None:
    assert pending_timers(daemon) == 0
    assert daemon.loop._next_timeout(None) is None  # it sleeps until something happens


def test_a_listener_added_later_hears_each_boundary_until_it_leaves(daemon: Daemon) -> None:
    heard: list[int] = []
    listener = lambda event: heard.append(event.when)  # noqa: E731
    daemon.supervisor.events.subscribe(Tick5Event, listener)
    daemon.supervisor.events.subscribe(Tick5Event, listener)  # a second one: still one timer
    assert pending_timers(daemon) == 1
    daemon.advance(4.9)
    assert heard == []
    daemon.advance(0.1)
    daemon.advance(5.0)
    assert heard == [1005, 1005, 1010, 1010]
    for _ in range(2):
        daemon.supervisor.events.unsubscribe(Tick5Event, listener)
    daemon.advance(5.0)  # nobody listens: not published, and the timer stops
    assert heard == [1005, 1005, 1010, 1010]
    assert pending_timers(daemon) == 0
    daemon.advance(2.0)  # 1017: back on the boundaries, not 5 s from now
    daemon.supervisor.events.subscribe(Tick5Event, listener)
    daemon.advance(3.0)
    assert heard[-1] == 1020


def test_a_listener_of_every_event_starts_every_tick(daemon: Daemon) -> None:
    heard: list[type] = []
    daemon.supervisor.events.subscribe(Event, lambda event: heard.append(type(event)))
    assert pending_timers(daemon) == 3
    daemon.advance(3600.0)
    assert {Tick5Event, Tick60Event, Tick3600Event} <= set(heard)
