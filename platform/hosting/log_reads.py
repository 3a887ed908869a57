"""Reading a program's log: a question to the app's host, not a change, so no Job row.

The panel never touches a tenant's files or runtime (DESIGN.md); the host's workers do.
``request_log`` asks them through RQ, on the host's queue, for one call of ``LOG_FUNCTION``
(``workers.log_reader.read_log``, the only other function the workers run) with plain
values: the app's id, the program, the channel and a byte count. The worker reads through
the same peer-checked connection as every job; the answer, ``{"text": ...}`` or
``{"error": ...}``, lives in Redis for ``RESULT_TTL`` seconds, long enough for the waiting
caller to take it. The call is never retried and never outlives the caller's deadline
(its RQ ``ttl``): a read nobody waits for any more is not worth running.

Who may read which app's log is the caller's business (``hosting.commands.read_log``), as
for every command.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from hosting.errors import HostingError, InvalidInput
from hosting.queue import job_queue

LOG_FUNCTION = "workers.log_reader.read_log"
LOG_CHANNELS = ("stdout", "stderr")
MAX_LOG_BYTES = 1024 * 1024
DEFAULT_LOG_BYTES = 64 * 1024
READ_SECONDS = 15  # the host's workers answer well within this unless all are busy
RESULT_TTL = 60  # seconds the answer stays in Redis for the caller to take
WAIT_SLICE_SECONDS = 1


class LogUnavailable(HostingError):
    """The host did not answer in time, or could not read the log (the message says why)."""


def check_log_request(program: Any, channel: Any, size: Any) -> tuple[str, str, int]:
    """(program, channel, bytes) as given, or InvalidInput naming the field."""
    if not isinstance(program, str) or not program:
        raise InvalidInput("program", "must be a program name")
    if channel not in LOG_CHANNELS:
        raise InvalidInput("channel", f"must be one of {', '.join(LOG_CHANNELS)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_LOG_BYTES:
        raise InvalidInput("bytes", f"must be a number of bytes from 1 to {MAX_LOG_BYTES}")
    return program, channel, size


def request_log(
    redis: Any,
    queue: str,
    app_id: int,
    program: str,
    channel: str = "stdout",
    size: int = DEFAULT_LOG_BYTES,
    *,
    timeout: int = READ_SECONDS,
) -> str:
    """The last ``size`` bytes of ``program``'s ``channel`` log in app ``app_id``, read by a
    worker of ``queue``; LogUnavailable when none answers within ``timeout`` seconds or the
    read failed."""
    program, channel, size = check_log_request(program, channel, size)
    rq_job = job_queue(queue, redis).enqueue(
        LOG_FUNCTION,
        app_id,
        program,
        channel,
        size,
        at_front=True,  # a person waits for it: ahead of the changes queued meanwhile
        ttl=timeout,
        job_timeout=timeout,
        result_ttl=RESULT_TTL,
        failure_ttl=RESULT_TTL,
        description=f"read log app={app_id} {program} {channel}",
    )
    deadline = time.monotonic() + timeout
    result = None
    try:
        while result is None and time.monotonic() < deadline:
            # Blocks on the job's result stream (XREAD), returning as soon as the answer is
            # there; a second at a time, since Redis clients cut off longer reads (redis-py
            # after 5 s by default).
            result = rq_job.latest_result(timeout=WAIT_SLICE_SECONDS)
    finally:
        # Read once, by this caller only: the request and its answer go (what a worker still
        # busy with it writes afterwards expires after RESULT_TTL).
        with contextlib.suppress(Exception):
            rq_job.delete()
    if result is None:
        raise LogUnavailable(f"the host's workers did not answer within {timeout} s; try again")
    answer = result.return_value if result.type == result.Type.SUCCESSFUL else None
    if not isinstance(answer, dict):
        raise LogUnavailable("the host's worker failed to read the log")
    if "error" in answer:
        raise LogUnavailable(str(answer["error"]))
    text = answer.get("text")
    if not isinstance(text, str):
        raise LogUnavailable("the host's worker gave no text")
    return text
