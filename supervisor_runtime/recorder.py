"""What happens to one channel of a child's output before (or instead of) its log.

supervisord behaviours kept here:
- capture mode: with ``stdout_capture_maxbytes`` > 0, bytes between
  ``<!--XSUPERVISOR:BEGIN-->`` and ``<!--XSUPERVISOR:END-->`` are not logged but
  published as one PROCESS_COMMUNICATION event (at most capture_maxbytes kept);
- PROCESS_LOG_STDOUT/STDERR events when ``*_events_enabled`` is set;
- at loglevel debug, child output is also written to the main log.

The common case (no capture, no events, not debug) is a single call to the sink.
Bytes between the tokens are kept out of the log file only: as in supervisord, they
still raise PROCESS_LOG events and appear in the debug main log.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, Protocol

from .events import COMMUNICATION_EVENTS, LOG_EVENTS, Event, ProcessCommunicationEvent
from .logs import ansi

if TYPE_CHECKING:
    from .process import Process

DEBUG = 10


class MainLogLike(Protocol):
    def is_enabled(self, level: int) -> bool: ...
    def debug(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


def _prefix_at_end(data: bytes, token: bytes) -> int:
    """Length of the longest tail of ``data`` that is a proper prefix of ``token``."""
    for length in range(min(len(token) - 1, len(data)), 0, -1):
        if data.endswith(token[:length]):
            return length
    return 0


class ChannelRecorder:
    def __init__(
        self,
        process: Process,
        channel: str,
        sink: Callable[[bytes], None],
        publish: Callable[[Event], None],
        mainlog: MainLogLike,
        capture_maxbytes: int,
        events_enabled: bool,
        strip_ansi: bool,
    ) -> None:
        self.process = process
        self.channel = channel
        self.sink = sink
        self.publish = publish
        self.mainlog = mainlog
        self.capture_maxbytes = capture_maxbytes
        self.events_enabled = events_enabled
        self.strip_ansi = strip_ansi
        self.capturing = False
        self._pending = b""  # a possible partial token held back
        self._captured = bytearray()

    @property
    def plain(self) -> bool:
        """True when output goes straight to the sink: no capture, events or debug echo."""
        return (
            not self.capture_maxbytes
            and not self.events_enabled
            and not self.mainlog.is_enabled(DEBUG)
        )

    def held(self) -> tuple[bool, bytes, bytes]:
        """Capture state not delivered yet: (capturing, a partial token, captured bytes)."""
        return self.capturing, self._pending, bytes(self._captured)

    def hold(self, capturing: bool, pending: bytes, captured: bytes) -> None:
        """Take back what ``held`` gave (a live upgrade)."""
        self.capturing = capturing
        self._pending = pending
        self._captured = bytearray(captured)

    def feed(self, data: bytes | memoryview) -> None:
        """Take output; ``data`` may be a view of a reused buffer, valid only during the call."""
        if self.capture_maxbytes:
            self._scan(self._pending + data)
        elif self.plain:
            self.sink(data)  # the common case: straight to the log file
        else:
            self._record(bytes(data))

    def _scan(self, data: bytes) -> None:
        token = (
            ProcessCommunicationEvent.END_TOKEN
            if self.capturing
            else ProcessCommunicationEvent.BEGIN_TOKEN
        )
        self._pending = b""
        while data:
            before, found, after = data.partition(token)
            if not found:
                keep = _prefix_at_end(data, token)
                self._pending = data[len(data) - keep :] if keep else b""
                self._take(data[: len(data) - keep])
                return
            self._take(before)
            self._toggle()
            token = (
                ProcessCommunicationEvent.END_TOKEN
                if self.capturing
                else ProcessCommunicationEvent.BEGIN_TOKEN
            )
            data = after

    def _take(self, data: bytes) -> None:
        if not data:
            return
        # Captured bytes stay out of the log file, but supervisord still echoes them to
        # the debug main log and raises PROCESS_LOG events for them: so do we.
        self._record(data, to_log_file=not self.capturing)
        if not self.capturing:
            return
        self._captured += data
        excess = len(self._captured) - self.capture_maxbytes
        if excess > 0:
            del self._captured[:excess]  # keep the newest capture_maxbytes

    def _toggle(self) -> None:
        self.capturing = not self.capturing
        if self.capturing:
            return
        data, self._captured = bytes(self._captured), bytearray()
        self.publish(COMMUNICATION_EVENTS[self.channel](self.process, self.process.pid, data))
        self.mainlog.debug(f"{self.process.name!r} {self.channel} emitted a comm event")

    def _record(self, data: bytes, to_log_file: bool = True) -> None:
        if to_log_file:
            self.sink(data)
        clean = ansi.strip(data)[0] if self.strip_ansi else data
        if self.mainlog.is_enabled(DEBUG):
            self.mainlog.debug(f"{self.process.name!r} {self.channel} output:\n{_text(clean)}")
        if self.events_enabled:
            self.publish(LOG_EVENTS[self.channel](self.process, self.process.pid, clean))


def _text(data: bytes) -> str:
    """Output as the debug main log shows it: supervisord writes bytes that are not UTF-8
    as their repr, so a reader sees exactly which bytes came."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"Undecodable: {data!r}"
