"""Answers that wait for processes, driven by state-change events (no polling).

supervisord polls its waiting answers; here a ``Deferred`` is resolved by the very
ProcessStateEvent that settles it. Group operations (startProcessGroup,
stopAllProcesses...) collect one result per process, in the order supervisord would list
them (see ``gather``), and answer as soon as the last process settles.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from ..events import ProcessStateEvent
from .faults import FaultCode, RPCError
from .xmlrpc import Deferred

if TYPE_CHECKING:
    from typing import Any

    from ..loop import EventLoop, TimerHandle
    from ..process import Process
    from ..supervisor import Supervisor

# Returned by a check that cannot decide yet.
PENDING = object()
# supervisord looks at a waiting group answer when its loop wakes up, and no sooner than
# POLL_DELAY after its last look (the answer's `delay`); with nothing else to wake it,
# its loop sleeps for POLL_TIMEOUT.
POLL_DELAY = 0.05
POLL_TIMEOUT = 1.0


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

    Results are listed in supervisord's order: the outcomes known at once, in process
    order, then the waiting ones at each look supervisord would take (make_allfunc in
    its rpcinterface.py), in process order within a look. Its first look is the call
    itself; a process settling at least POLL_DELAY after the last look wakes it for
    another look at once, one settling sooner (a process killed by its SIGTERM at once)
    is seen only at the next look: the next such settling, or POLL_TIMEOUT later. So a
    process that dies at once is listed after one that takes half a second, but before
    one that takes two seconds. The answer goes out as soon as the last one settles.
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
    unseen: dict[int, dict[str, Any]] = {}  # settled since the last look, by process index
    last_look = loop.clock()
    look_soon = False  # a look is queued for the end of this loop turn
    wake_up: TimerHandle | None = None

    def look() -> None:
        nonlocal last_look, look_soon, wake_up
        look_soon = False
        if wake_up is not None:
            wake_up.cancel()
            wake_up = None
        if answer.done:  # already answered, or nobody waits any longer
            return
        last_look = loop.clock()
        for index in sorted(unseen):
            results.append(unseen.pop(index))
        if not waiting:
            answer.resolve(results)

    def settle(index: int, deferred: Deferred) -> None:
        nonlocal look_soon, wake_up
        process, _ = waiting.pop(index)
        error = deferred.error
        if error is not None:
            unseen[index] = result_struct(process, error.code, error.text)
        else:
            unseen[index] = result_struct(process, FaultCode.SUCCESS, "OK")
        if not waiting:
            # The last one: supervisord's next look would list everything unseen in
            # process order, as this one does; answer now rather than when it looks.
            look()
        elif loop.clock() - last_look >= POLL_DELAY:
            # Supervisord would look once this loop turn is over: processes reaped in
            # the same turn are seen together.
            if not look_soon:
                look_soon = True
                loop.call_soon(look)
        elif wake_up is None:
            wake_up = loop.call_later(POLL_TIMEOUT, look)

    for index, (_, deferred) in list(waiting.items()):
        deferred.add_done(lambda d, index=index: settle(index, d))

    def cancelled() -> None:
        if wake_up is not None:
            wake_up.cancel()
        for _, deferred in list(waiting.values()):
            deferred.cancel()
        waiting.clear()

    answer.on_cancel(cancelled)
    return answer
