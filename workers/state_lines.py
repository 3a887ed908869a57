"""Reading a runtime's state stream (``GET /state-stream``, see
supervisor_runtime/rpc/state_stream.py) without trusting it.

A tenant's runtime runs the tenant's code as much as the platform's: its stream may be
garbage, endless lines or fields of any type. ``LineBuffer`` cuts the bytes into lines of at
most ``MAX_LINE`` bytes; ``parse_line`` keeps only what the platform knows, with the types
it expects, and raises ``BadLine`` for anything else (the feeder then drops the connection).
``StreamReader`` is the one reading end the feeder uses for every stream it follows (the
tenants' and the host runtime's own): the HTTP head, then the lines.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

from hosting.status import PROCESS_FIELDS

from workers.runtime import clean_notices

MAX_LINE = 1024 * 1024
MAX_HEAD = 64 * 1024
MAX_PROCESSES = 10_000
READ_SIZE = 256 * 1024  # bytes taken from a stream's socket at a time
MAX_TEXT = 8192  # characters kept of a text field (descriptions, log tails)
TRANSITION_FIELDS = (
    "time",
    "from",
    "to",
    "reason",
    "description",
    "pid",
    "exitstatus",
    "signal",
    "requester",
    "log_tail",
)


class BadLine(Exception):
    """The stream sent something that is not a state line: the connection is dropped."""


class Refused(BadLine):
    """The stream's request was answered with an HTTP status other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} for the state stream")
        self.status = status


class Ended(Exception):
    """The other side closed the stream (``error`` None) or the socket failed."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__(error or "closed")
        self.error = error


class LineBuffer:
    """Bytes in, complete lines out; a line longer than MAX_LINE is BadLine."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._data += data
        end = self._data.rfind(b"\n")
        if end == -1:
            if len(self._data) > MAX_LINE:
                raise BadLine(f"a line over {MAX_LINE} bytes")
            return []
        lines = bytes(self._data[:end]).split(b"\n")
        del self._data[: end + 1]
        if any(len(line) > MAX_LINE for line in lines) or len(self._data) > MAX_LINE:
            raise BadLine(f"a line over {MAX_LINE} bytes")
        return lines


def parse_head(data: bytes) -> tuple[int, bytes] | None:
    """(status code, the body bytes after the head) once the head is complete."""
    end = data.find(b"\r\n\r\n")
    if end == -1:
        if len(data) > MAX_HEAD:
            raise BadLine("a response head over 64 KiB")
        return None
    status_line = data[: data.find(b"\r\n")].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise BadLine("not an HTTP response")
    if not status_line[1].isdigit():
        raise BadLine("not an HTTP status")
    return int(status_line[1]), data[end + 4 :]


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def clean_process(info: Any) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise BadLine("a process that is not an object")
    if not all(isinstance(info.get(key), str) for key in ("name", "group", "statename")):
        raise BadLine("a process without a text name, group and statename")
    clean = {key: _scalar(info[key]) for key in PROCESS_FIELDS if key in info}
    return {key: value for key, value in clean.items() if value is not None}


def clean_transition(entry: Any) -> dict[str, Any] | None:
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("time"), (int, float)):
        raise BadLine("a transition without a time")
    clean: dict[str, Any] = {}
    for key in TRANSITION_FIELDS:
        if key == "requester" and isinstance(entry.get(key), dict):
            requester = {k: _scalar(v) for k, v in entry[key].items() if isinstance(k, str)}
            known = [(k, v) for k, v in requester.items() if v is not None]
            clean[key] = dict(known[:8])
        elif key in entry and _scalar(entry[key]) is not None:
            clean[key] = _scalar(entry[key])
    return clean


def parse_line(raw: bytes) -> dict[str, Any]:
    """A state line, checked and cut down to known fields: {"type": "snapshot",
    "processes", "notices"}, {"type": "process", "process", "transition"} or
    {"type": "ping"}; BadLine otherwise. Unknown types come back as {"type": "other"}."""
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadLine("a line that is not JSON") from None
    if not isinstance(line, dict) or not isinstance(line.get("type"), str):
        raise BadLine("a line that is not a typed object")
    kind = line["type"]
    if kind == "snapshot":
        processes, notices = line.get("processes"), line.get("notices") or []
        if not isinstance(processes, list) or len(processes) > MAX_PROCESSES:
            raise BadLine("a snapshot without a list of processes")
        if not isinstance(notices, list) or not all(isinstance(n, dict) for n in notices):
            raise BadLine("a snapshot with bad notices")
        return {
            "type": kind,
            "processes": [clean_process(info) for info in processes],
            "notices": clean_notices(notices),
        }
    if kind == "process":
        return {
            "type": kind,
            "process": clean_process(line.get("process")),
            "transition": clean_transition(line.get("transition")),
        }
    return {"type": "ping" if kind == "ping" else "other"}


class StreamReader:
    """The reading end of one state stream on a non-blocking socket (its request sent).

    ``read()`` gives the lines that arrived, parsed (``parse_line``); the head is read
    first, and a status other than 200 is ``Refused`` before any of its body is parsed.
    ``Ended`` when the other side closed or the socket failed, ``BadLine`` for garbage:
    what either means (poll it, show it down, try again) is the caller's.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head: bytes | None = b""  # None once the head was read (a 200)
        self.lines = LineBuffer()
        self.last_data = time.monotonic()  # when bytes last arrived (or the connect)

    def read(self) -> Iterator[dict[str, Any]]:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return iter(())
        except OSError as exc:
            raise Ended(str(exc) or type(exc).__name__) from None
        if not data:
            raise Ended()
        self.last_data = time.monotonic()
        if self.head is not None:
            parsed = parse_head(self.head + data)
            if parsed is None:
                self.head += data
                return iter(())
            status, data = parsed
            if status != 200:
                raise Refused(status)
            self.head = None
        # Parsed as the caller takes them: the lines before a bad one are still acted on.
        return (parse_line(raw) for raw in self.lines.feed(data))

    @property
    def streaming(self) -> bool:
        """The head was read: lines are coming."""
        return self.head is None


def request(heartbeat: float) -> bytes:
    return (
        f"GET /state-stream?heartbeat={heartbeat:g} HTTP/1.1\r\nHost: localhost\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
