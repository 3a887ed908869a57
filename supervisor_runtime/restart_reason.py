"""The one entry point for code that acts on a process for a reason of its own (a failed
liveness check, ...): call ``record_transition`` just before acting.

    from supervisor_runtime.restart_reason import record_transition

    record_transition(process, "liveness: GET http://127.0.0.1:8080/health answered 500, "
                               "3 failures in a row")
    process.stop()  # then start it again once STOPPED

The reason is recorded at once (an entry whose state does not change) and becomes the
reason of the transitions that follow (STOPPING, STOPPED, STARTING) until the process is
RUNNING again, EXITED or FATAL. ``kind`` is the short word clients match on ("health" by
default). Without [supervisord] history = true this does nothing and costs nothing.
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from .process import Process


def record_transition(process: Process, reason: str, kind: str = "health") -> None:
    book = getattr(process.host, "history", None)  # the Supervisor's HistoryBook, if on
    if book is not None:
        book.note_cause(process, kind, reason)
