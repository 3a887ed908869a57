"""Listener pool rules with a fake daemon: buffering, one listener per event, redelivery."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from supervisor_runtime.config.model import EventListenerPoolConfig, ProcessConfig
from supervisor_runtime.eventpool import EventListenerPool
from supervisor_runtime.events import (
    PROCESS_STATE_EVENTS,
    EventBus,
    RemoteCommunicationEvent,
    Tick5Event,
)
from supervisor_runtime.states import EventListenerState as L
from supervisor_runtime.states import ProcessState as S


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level: str) -> Callable[[str], None]:
        return lambda msg: self.lines.append(f"{level.upper()} {msg}")


class FakeProcess:
    def __init__(self, name: str) -> None:
        self.name = name
        self.group_name = "pool"
        self.state = S.STOPPED
        self.pid = 0


class FakeHost:
    identifier = "supervisor"

    def __init__(self) -> None:
        self.events = EventBus()
        self.log = FakeLog()
        self.written: dict[str, list[str]] = {}
        self.soon: list[Callable[[], object]] = []
        self.broken: set[str] = set()

    def write_stdin(self, process: FakeProcess, data: bytes) -> None:
        if process.name in self.broken:
            raise BrokenPipeError
        self.written.setdefault(process.name, []).append(data.decode())

    def call_soon(self, callback: Callable[[], object]) -> None:
        self.soon.append(callback)

    def run_soon(self) -> None:
        while self.soon:
            self.soon.pop(0)()


def set_state(host: FakeHost, process: FakeProcess, state: S) -> None:
    old, process.state = process.state, state
    host.events.publish(PROCESS_STATE_EVENTS[state](process, old))  # type: ignore[arg-type]


def make_pool(host: FakeHost, names: list[str], buffer_size: int = 10):
    processes = {name: FakeProcess(name) for name in names}
    config = EventListenerPoolConfig(
        name="pool", priority=-1, kind="eventlistener",
        processes=tuple(
            ProcessConfig(name=n, program_name="pool", group_name="pool", command="x")
            for n in names
        ),
        events=("REMOTE_COMMUNICATION",), buffer_size=buffer_size,
    )
    pool = EventListenerPool(config, processes, host)  # type: ignore[arg-type]
    for process in processes.values():
        set_state(host, process, S.STARTING)
        set_state(host, process, S.RUNNING)
    return pool, processes


def remote(n: int) -> RemoteCommunicationEvent:
    return RemoteCommunicationEvent("test", f"event {n}")


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


def test_event_waits_for_ready_then_goes_to_one_listener(host: FakeHost) -> None:
    pool, procs = make_pool(host, ["a", "b"])
    host.events.publish(remote(1))
    host.run_soon()
    assert host.written == {}  # nobody READY yet
    pool.feed(procs["a"], b"READY\n")
    pool.feed(procs["b"], b"READY\n")
    host.run_soon()
    assert sum(len(v) for v in host.written.values()) == 1
    sent = host.written["a"][0]
    header, payload = sent.split("\n", 1)
    assert header == (
        "ver:3.0 server:supervisor serial:0 pool:pool poolserial:0 "
        "eventname:REMOTE_COMMUNICATION len:17"
    )
    assert payload == "type:test\nevent 1"
    assert pool.listener_state(procs["a"]) is L.BUSY
    assert pool.listener_state(procs["b"]) is L.READY


def test_ok_acknowledges_and_fail_redelivers_at_the_head(host: FakeHost) -> None:
    pool, procs = make_pool(host, ["a"])
    for n in (1, 2):
        host.events.publish(remote(n))
    pool.feed(procs["a"], b"READY\n")
    host.run_soon()
    pool.feed(procs["a"], b"RESULT 4\nFAIL")
    assert pool.listener_state(procs["a"]) is L.ACKNOWLEDGED
    assert "WARN a: event was rejected" in host.log.lines
    pool.feed(procs["a"], b"READY\n")
    host.run_soon()
    assert [w.split("\n")[-1] for w in host.written["a"]] == ["event 1", "event 1"]
    pool.feed(procs["a"], b"RESULT 2\nOKREADY\n")  # answer and READY in one read
    host.run_soon()
    assert host.written["a"][-1].endswith("event 2")


def test_event_in_flight_is_redelivered_when_the_listener_dies(host: FakeHost) -> None:
    pool, procs = make_pool(host, ["a", "b"])
    host.events.publish(remote(1))
    pool.feed(procs["a"], b"READY\n")
    host.run_soon()
    assert host.written["a"][0].endswith("event 1")
    set_state(host, procs["a"], S.EXITED)
    pool.feed(procs["b"], b"READY\n")
    host.run_soon()
    assert host.written["b"][0].endswith("event 1")
    assert "serial:0 " in host.written["b"][0]


def test_buffer_overflow_drops_the_oldest_with_a_log_line(host: FakeHost) -> None:
    pool, procs = make_pool(host, ["a"], buffer_size=2)
    for n in range(3):
        host.events.publish(remote(n))
    assert "ERROR pool pool event buffer overflowed, discarding event 0" in host.log.lines
    pool.feed(procs["a"], b"READY\n")
    host.run_soon()
    assert host.written["a"][0].endswith("event 1")


@pytest.mark.parametrize("rude", [b"HELLO\n", b"READY\nREADY\n"])
def test_out_of_turn_output_makes_the_listener_unknown(host: FakeHost, rude: bytes) -> None:
    pool, procs = make_pool(host, ["a"])
    pool.feed(procs["a"], rude)
    assert pool.listener_state(procs["a"]) is L.UNKNOWN


def test_bad_result_line_is_rejected_and_unknown(host: FakeHost) -> None:
    pool, procs = make_pool(host, ["a", "b"])
    host.events.publish(remote(1))
    pool.feed(procs["a"], b"READY\n")
    host.run_soon()
    pool.feed(procs["a"], b"RESULT x\n")
    assert pool.listener_state(procs["a"]) is L.UNKNOWN
    assert "WARN a: bad result line: 'RESULT x'" in host.log.lines
    pool.feed(procs["b"], b"READY\n")
    host.run_soon()
    assert host.written["b"][0].endswith("event 1")


def test_unsubscribed_event_types_are_not_buffered(host: FakeHost) -> None:
    pool, _ = make_pool(host, ["a"])
    host.events.publish(Tick5Event(1000))
    assert not pool.buffer


def test_epipe_tries_the_next_listener(host: FakeHost) -> None:
    pool, procs = make_pool(host, ["a", "b"])
    host.broken.add("a")
    pool.feed(procs["a"], b"READY\n")
    pool.feed(procs["b"], b"READY\n")
    host.events.publish(remote(1))
    host.run_soon()
    assert host.written["b"][0].endswith("event 1")
    assert pool.listener_state(procs["a"]) is L.READY
