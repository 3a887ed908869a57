"""Answers that wait for processes, driven by state-change events (no polling).

supervisord polls its waiting answers every 50 ms; here a ``Deferred`` is
resolved by the very ProcessStateEvent that settles it. Group operations
(startProcessGroup, stopAllProcesses...) collect one result per process; the
results of processes that finish within the same 50 ms are listed in process
order, so output matches supervisord's whenever timing allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..events import ProcessStateEvent
from .faults import FaultCode, RPCError
from .xmlrpc import Deferred

if TYPE_CHECKING:
    from ..loop import EventLoop, TimerHandle
    from ..process import Process
    from ..supervisor import Supervisor

# Returned by a check that cannot decide yet.
PENDING = object()
BATCH_WINDOW = 0.05


def wait_for(supervisor: Supervisor, process: Process, check: Callable[[], Any]) -> Deferred:
    """A Deferred settled by ``check()`` at the first state change of ``process`` where it
    returns something other than PENDING (or raises RPCError)."""
    deferred = Deferred()

    def on_event(event: ProcessStateEvent) -> None:
        # Judge once the transition is complete (e.g. pid cleared after STOPPED), and
        # outside the event dispatch: whatever runs next (a multicall's next call) must
        # not run in the middle of the process's state change.
        if event.process is process and not deferred.done:
            supervisor.loop.call_soon(judge)

    def judge() -> None:
        if deferred.done:
            return
        try:
            value = check()
        except RPCError as error:
            stop_listening()
            deferred.fail(error)
            return
        if value is not PENDING:
            stop_listening()
            deferred.resolve(value)

    def stop_listening() -> None:
        supervisor.events.unsubscribe(ProcessStateEvent, on_event)

    supervisor.events.subscribe(ProcessStateEvent, on_event)
    deferred.on_cancel(stop_listening)
    return deferred


def result_struct(process: Process, code: int, description: str) -> dict[str, Any]:
    return {
        "name": process.name,
        "group": process.group_name,
        "status": int(code),
        "description": description,
    }


def gather(
    loop: EventLoop,
    processes: list[Process],
    action: Callable[[Process], Any],
) -> list[dict[str, Any]] | Deferred:
    """Run ``action`` on each process now; answer with one status struct per process.

    Immediate outcomes come first in process order; waiting ones are added as they
    settle, in batches of BATCH_WINDOW seconds sorted by process order. The answer goes
    out as soon as the last one settles.
    """
    results: list[dict[str, Any]] = []
    waiting: dict[int, tuple[Process, Deferred]] = {}
    for index, process in enumerate(processes):
        try:
            outcome = action(process)
        except RPCError as error:
            results.append(result_struct(process, error.code, error.text))
            continue
        if isinstance(outcome, Deferred) and not outcome.done:
            waiting[index] = (process, outcome)
        elif isinstance(outcome, Deferred) and outcome.error is not None:
            results.append(result_struct(process, outcome.error.code, outcome.error.text))
        else:
            results.append(result_struct(process, FaultCode.SUCCESS, "OK"))
    if not waiting:
        return results

    answer = Deferred()
    settled: dict[int, dict[str, Any]] = {}
    flush_timer: list[TimerHandle] = []

    def flush() -> None:
        flush_timer.clear()
        for index in sorted(settled):
            results.append(settled.pop(index))
        if not waiting:
            answer.resolve(results)

    def settle(index: int, deferred: Deferred) -> None:
        process, _ = waiting.pop(index)
        error = deferred.error
        settled[index] = (
            result_struct(process, error.code, error.text) if error is not None
            else result_struct(process, FaultCode.SUCCESS, "OK")
        )
        if not waiting:
            # The last one: the open batch is complete, so its order is already final
            # and there is nothing to wait for (a `supervisorctl update` of ten groups
            # would otherwise spend ten windows doing nothing).
            for timer in flush_timer:
                timer.cancel()
            flush()
        elif not flush_timer:
            flush_timer.append(loop.call_later(BATCH_WINDOW, flush))

    for index, (_, deferred) in list(waiting.items()):
        deferred.add_done(lambda d, index=index: settle(index, d))

    def cancelled() -> None:
        for _, deferred in list(waiting.values()):
            deferred.cancel()
        waiting.clear()

    answer.on_cancel(cancelled)
    return answer
