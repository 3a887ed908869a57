"""Group answers (rpc.waiting.gather): order of results and when the answer goes out.

The orders expected here are the ones stock supervisord 4.3.0 gave, three times out of
three, for a group whose processes take the given times to die of SIGTERM (stopProcessGroup
on a quiet daemon; "at once" is /bin/sleep): it looks at the answer at the call, then when a
process dies at least 50 ms after its last look, or after its 1 s loop timeout.
"""

from __future__ import annotations

from types import SimpleNamespace

from supervisor_runtime.loop import EventLoop
from supervisor_runtime.rpc.faults import FaultCode, RPCError
from supervisor_runtime.rpc.waiting import POLL_DELAY, POLL_TIMEOUT, gather
from supervisor_runtime.rpc.xmlrpc import Deferred


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _processes(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(name=f"p{i}", group_name="g") for i in range(n)]


def _run_ready_and_due(loop: EventLoop) -> None:
    loop.run_once(max_wait=0)


class Group:
    """gather() over processes p0..p(n-1) whose outcomes all wait, on a fake clock."""

    def __init__(self, n: int) -> None:
        self.clock = FakeClock()
        self.loop = EventLoop(clock=self.clock)
        self.pending: dict[str, Deferred] = {}
        self.answer = gather(self.loop, _processes(n), self._action)
        assert isinstance(self.answer, Deferred) and not self.answer.done

    def _action(self, process: SimpleNamespace) -> Deferred:
        self.pending[process.name] = Deferred()
        return self.pending[process.name]

    def settle_at(self, when: float, *names: str) -> None:
        """Let the loop run up to `when` seconds after the call, then settle `names` in
        that order within one loop turn, and finish the turn."""
        start = 1000.0
        while self.clock.now < start + when:
            _run_ready_and_due(self.loop)
            self.clock.now = min(start + when, self.clock.now + 0.01)
        _run_ready_and_due(self.loop)
        for name in names:
            self.pending[name].resolve(True)
        _run_ready_and_due(self.loop)

    def order(self) -> list[str]:
        """The names in the answer, which must be complete; the loop is closed."""
        self.loop.close()
        assert self.answer.done
        return [r["name"] for r in self.answer.value]


def test_answer_goes_out_when_the_last_process_settles_without_waiting() -> None:
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    pending = {}

    def action(process: SimpleNamespace) -> Deferred:
        pending[process.name] = Deferred()
        return pending[process.name]

    answer = gather(loop, _processes(3), action)
    assert isinstance(answer, Deferred) and not answer.done
    pending["p2"].resolve(True)
    pending["p0"].resolve(True)
    assert not answer.done
    pending["p1"].fail(RPCError(FaultCode.FAILED, "boom"))
    # Same instant, no timer run: the answer is already there, in process order.
    assert answer.done
    assert [(r["name"], r["status"]) for r in answer.value] == [
        ("p0", FaultCode.SUCCESS),
        ("p1", FaultCode.FAILED),
        ("p2", FaultCode.SUCCESS),
    ]
    clock.now += POLL_TIMEOUT * 2
    _run_ready_and_due(loop)  # the cancelled wake-up timer must not append anything
    assert len(answer.value) == 3
    loop.close()


def test_the_answer_goes_out_at_the_last_settling_even_when_supervisord_would_not_look() -> None:
    group = Group(2)
    group.settle_at(0.001, "p1")
    group.settle_at(0.002, "p0")  # stock: 1 s later, at its loop timeout; same order
    assert group.order() == ["p0", "p1"]


def test_a_process_dying_at_once_is_listed_when_the_next_one_settles() -> None:
    # stock, slow 0.5 s then fast at once: slow, fast. The group settles in reverse order,
    # far apart, and still comes out in process order.
    group = Group(2)
    group.settle_at(0.001, "p1")
    assert not group.answer.done
    group.settle_at(0.5, "p0")
    assert group.order() == ["p0", "p1"]


def test_a_process_settling_after_the_poll_delay_is_seen_at_once() -> None:
    # stock, slow 0.5 s then fast 0.2 s: fast, slow.
    group = Group(2)
    group.settle_at(0.2, "p1")
    group.settle_at(0.5, "p0")
    assert group.order() == ["p1", "p0"]


def test_a_look_lists_what_settled_unseen_in_process_order() -> None:
    # stock, 0.5 s, 0.2 s, at once: p1 p2 p0 (p2 is seen with p1, after it in process order).
    group = Group(3)
    group.settle_at(0.001, "p2")
    group.settle_at(0.2, "p1")
    group.settle_at(0.5, "p0")
    assert group.order() == ["p1", "p2", "p0"]
    # stock, 0.5 s, at once, 0.2 s: p1 p2 p0.
    group = Group(3)
    group.settle_at(0.001, "p1")
    group.settle_at(0.2, "p2")
    group.settle_at(0.5, "p0")
    assert group.order() == ["p1", "p2", "p0"]


def test_the_loop_timeout_shows_what_settled_unseen() -> None:
    # stock, slow 1.5 s (or 3 s) then fast at once: fast, slow.
    for slow in (1.5, 3.0):
        group = Group(2)
        group.settle_at(0.001, "p1")
        group.settle_at(slow, "p0")
        assert group.order() == ["p1", "p0"]
    # just before the timeout, the slow one is still first
    group = Group(2)
    group.settle_at(0.001, "p1")
    group.settle_at(POLL_TIMEOUT - 0.02, "p0")
    assert group.order() == ["p0", "p1"]


def test_processes_settling_in_one_loop_turn_are_seen_together() -> None:
    group = Group(4)
    group.settle_at(0.2, "p3", "p2")
    group.settle_at(0.3 + POLL_DELAY, "p1")
    group.settle_at(0.6, "p0")
    assert group.order() == ["p2", "p3", "p1", "p0"]


def test_nothing_is_listed_once_the_client_went_away() -> None:
    group = Group(2)
    group.settle_at(0.001, "p1")
    group.answer.cancel()
    assert group.pending["p0"].done  # no longer waited for
    group.settle_at(POLL_TIMEOUT * 2)
    assert group.answer.value is None
    group.loop.close()


def test_immediate_outcomes_come_first_and_need_no_deferred() -> None:
    loop = EventLoop(clock=FakeClock())

    def action(process: SimpleNamespace) -> bool:
        if process.name == "p1":
            raise RPCError(FaultCode.NOT_RUNNING, process.name)
        return True

    answer = gather(loop, _processes(2), action)
    assert [(r["name"], r["status"]) for r in answer] == [
        ("p0", FaultCode.SUCCESS),
        ("p1", FaultCode.NOT_RUNNING),
    ]
    loop.close()
