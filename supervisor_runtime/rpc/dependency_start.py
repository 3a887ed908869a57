"""Ours: startProcess of a process whose dependencies are not ready yet (depends_on).

The process waits in the DependencyGate; with ``wait`` the answer comes once it has been
spawned and is RUNNING (as for any start), or fails with ABNORMAL_TERMINATION when the
wait ends without a spawn (a dependency became FATAL, the process was stopped, shutdown).
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from .faults import FaultCode, RPCError
from .xmlrpc import Deferred

if TYPE_CHECKING:
    from typing import Any

    from ..process import Process
    from ..supervisor import Supervisor

    # The rest of startProcess once the process is spawned: (process, name, wait) -> answer.
    AwaitStarted = Callable[["Process", str, Any], "bool | Deferred"]


def start_after_dependencies(
    supervisor: Supervisor, process: Process, name: str, wait: Any, await_started: AwaitStarted
) -> bool | Deferred:
    if not wait:
        supervisor.dependencies.start(process)
        return True
    answer = Deferred()

    def settled(error: str | None) -> None:
        if answer.done:
            return
        if error is not None:
            supervisor.log.info(f"start of {name} called off: {error}")
            answer.fail(RPCError(FaultCode.ABNORMAL_TERMINATION, name))
            return
        try:
            outcome = await_started(process, name, True)
        except RPCError as failure:
            answer.fail(failure)
            return
        if not isinstance(outcome, Deferred):
            answer.resolve(outcome)
            return
        answer.on_cancel(outcome.cancel)
        outcome.add_done(
            lambda done: answer.fail(done.error) if done.error else answer.resolve(done.value)
        )

    supervisor.dependencies.start(process, settled)
    return answer
