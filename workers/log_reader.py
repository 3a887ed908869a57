"""``read_log(app_id, program, channel, size)``: the workers' answer to a log read.

Run by RQ for ``hosting.log_reads.request_log`` (its ``LOG_FUNCTION``; the worker's
allow-list in ``workers.worker`` names it). A read is not a change: no Job row, no app lock
(a long apply must not hold up reading its log), no retry. The app's runtime is reached the
way every job reaches it (``job_handlers._tenant``: the app's own socket, its peer
checked), and the log is read by the runtime (``readProcessStdoutLog`` and friends), never
from the app's files by root.

The answer is ``{"text": ...}`` or ``{"error": ...}``: an error the person waiting can act
on, without a traceback or a host path (``job_handlers.tenant_safe``).
"""

from __future__ import annotations

import logging
from typing import Any

from hosting.log_reads import READ_SECONDS, check_log_request

from workers.job_handlers import (
    PERMANENT_ERRORS,
    JobFailed,
    _load_app,
    _tenant,
    job_context,
    tenant_safe,
)
from workers.runtime import RuntimeRefused, RuntimeUnavailable

log = logging.getLogger(__name__)
# The runtime has this long to answer (the caller waits READ_SECONDS for everything).
RUNTIME_UP_SECONDS = READ_SECONDS / 3


def read_log(app_id: int, program: str, channel: str, size: int) -> dict[str, Any]:
    """The last ``size`` bytes of ``program``'s ``channel`` log in app ``app_id``."""
    try:
        if isinstance(app_id, bool) or not isinstance(app_id, int):
            raise JobFailed(f"app must be an id, not {app_id!r}")
        program, channel, size = check_log_request(program, channel, size)
        with job_context() as context:
            info = _load_app(context, app_id, render=False)
            with _tenant(context, info, up_seconds=RUNTIME_UP_SECONDS) as runtime:
                names = runtime.targets([program])
                text = runtime.log_tail(names[0], channel, size)
    except (*PERMANENT_ERRORS, JobFailed, RuntimeUnavailable) as exc:
        return {"error": tenant_safe(str(exc))}
    except Exception as exc:  # the worker's log has the details; the reader gets the gist
        log.exception("reading log of app %s (%s %s) failed", app_id, program, channel)
        return {"error": f"{type(exc).__name__}: {tenant_safe(str(exc))}"}
    if not isinstance(text, str):
        return {"error": str(RuntimeRefused(f"the runtime of app {info.name} gave a bad log"))}
    return {"text": text[-size:]}
