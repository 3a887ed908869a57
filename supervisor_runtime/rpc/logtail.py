"""GET /logtail/<process>[/stderr] and GET /mainlogtail: follow a log over HTTP (tail -f).

As supervisord: the last 1 KiB first, then whatever is appended, as a chunked
response that never ends by itself; a rotated file (new inode) is followed from
its start, a truncated one is announced with ``==> File truncated <==``. The
file is polled every 0.1 s per follower, and nothing is read while the client
has not taken what was already sent (a stalled reader holds no more than
STREAM_HIGH_WATER bytes).
"""

from __future__ import annotations

import os
import time

from supervisor_runtime.static_types import TYPE_CHECKING

from .http import STREAM_HIGH_WATER, Request, Responder, http_date
from .process_info import split_namespec

if TYPE_CHECKING:
    from typing import BinaryIO

    from ..loop import EventLoop
    from ..supervisor import Supervisor

HEAD_BYTES = 1024
POLL_INTERVAL = 0.1
READ_CHUNK = 64 * 1024
TRUNCATED = b"==> File truncated <==\n"


class LogFollower:
    def __init__(self, loop: EventLoop, responder: Responder, path: str) -> None:
        self.loop = loop
        self.responder = responder
        self.path = path
        self.file: BinaryIO | None = None
        self.inode = 0
        self.position = 0
        self._open()
        size = os.fstat(self.file.fileno()).st_size if self.file else 0
        self.position = max(0, size - HEAD_BYTES)
        responder.on_abort(self.close)
        self._tick()

    def _open(self) -> None:
        try:
            self.file = open(self.path, "rb")  # noqa: SIM115 - lives as long as the follower
        except OSError:
            self.file = None
            return
        self.inode = os.fstat(self.file.fileno()).st_ino
        self.position = 0

    def _follow_rotation(self) -> None:
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            return  # unlinked: keep reading what we have open
        if self.file is None or inode != self.inode:
            if self.file is not None:
                self.file.close()
            self._open()

    def _tick(self) -> None:
        if not self.responder.alive:
            self.close()
            return
        if self.responder.backlog() < STREAM_HIGH_WATER:
            self._follow_rotation()
            self._send_new_bytes()
        self.loop.call_later(POLL_INTERVAL, self._tick)

    def _send_new_bytes(self) -> None:
        if self.file is None:
            return
        try:
            size = os.fstat(self.file.fileno()).st_size
        except (OSError, ValueError):
            return
        if size < self.position:
            self.position = 0
            self.responder.write(TRUNCATED)
            return
        if size > self.position:
            self.file.seek(self.position)
            data = self.file.read(min(size - self.position, READ_CHUNK))
            self.position += len(data)
            self.responder.write(data)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _stream_headers(path: str) -> list[tuple[str, str]]:
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = time.time()  # an AUTO log not created yet
    return [
        ("Last-Modified", http_date(mtime)),
        ("Content-Type", "text/plain;charset=utf-8"),
        # Reverse proxies (nginx) must pass each piece on at once.
        ("X-Accel-Buffering", "no"),
    ]


def follow(loop: EventLoop, responder: Responder, path: str | None, pending: bool = False) -> None:
    """Stream ``path``; ``pending`` means the file will appear on first output."""
    if path is None or not (pending or os.path.exists(path)):
        # No file yet is a passing condition (never started, or NONE until a reload).
        responder.error(404)
        return
    responder.start_stream(200, _stream_headers(path))
    LogFollower(loop, responder, path)


def process_log_path(supervisor: Supervisor, request_path: str) -> tuple[str | None, bool]:
    """The log file named by ``/logtail/<name>[/<channel>]`` (None if there is none), and
    whether it is an AUTO log still to be created on the process's first output."""
    rest = request_path.lstrip("/")
    _, _, rest = rest.partition("/")  # drop "logtail"
    name, _, channel = rest.partition("/")
    channel = channel or "stdout"
    group_name, process_name = split_namespec(name)
    group = supervisor.groups.get(group_name)
    process = group.processes.get(process_name) if group and process_name else None
    if process is None or channel not in ("stdout", "stderr"):
        return None, False
    logs = supervisor.logs_of(process)
    path = logs.stdout_path if channel == "stdout" else logs.stderr_path
    return path, logs.not_created_yet(channel)


def handle_logtail(supervisor: Supervisor, request: Request, responder: Responder) -> None:
    if request.method != "GET":
        responder.error(400)
        return
    path, pending = process_log_path(supervisor, request.path)
    follow(supervisor.loop, responder, path, pending)


def handle_mainlogtail(supervisor: Supervisor, request: Request, responder: Responder) -> None:
    if request.method != "GET":
        responder.error(400)
        return
    follow(supervisor.loop, responder, supervisor.log.path or supervisor.config.logfile)
