"""Group answers (rpc.waiting.gather): order of results and when the answer goes out."""

from __future__ import annotations

from types import SimpleNamespace

from supervisor_runtime.loop import EventLoop
from supervisor_runtime.rpc.faults import FaultCode, RPCError
from supervisor_runtime.rpc.waiting import BATCH_WINDOW, gather
from supervisor_runtime.rpc.xmlrpc import Deferred


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _processes(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(name=f"p{i}", group_name="g") for i in range(n)]


def _run_due_timers(loop: EventLoop) -> None:
    loop.run_once(max_wait=0)


def test_answer_goes_out_when_the_last_process_settles_without_waiting_a_window() -> None:
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
    clock.now += BATCH_WINDOW * 2
    _run_due_timers(loop)  # the cancelled window timer must not append anything
    assert len(answer.value) == 3
    loop.close()


def test_results_settling_a_window_apart_keep_their_settling_order() -> None:
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    pending = {}

    def action(process: SimpleNamespace) -> Deferred:
        pending[process.name] = Deferred()
        return pending[process.name]

    answer = gather(loop, _processes(3), action)
    pending["p2"].resolve(True)
    clock.now += BATCH_WINDOW + 0.001
    _run_due_timers(loop)  # p2's batch is flushed on its own
    pending["p1"].resolve(True)
    pending["p0"].resolve(True)
    assert answer.done
    assert [r["name"] for r in answer.value] == ["p2", "p0", "p1"]
    loop.close()


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
