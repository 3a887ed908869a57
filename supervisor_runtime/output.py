"""Moving a child's stdout/stderr from its pipes into its log sinks.

``ProcessLogs`` lives as long as the process's configuration (AUTO log names
are chosen once, as supervisord does); ``ChildOutput`` lives for one spawned
child and is the only reader of its pipes. Reads happen only when the loop
says a pipe is readable: an idle child costs nothing.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from .config.model import LogfileSpecial, ProcessConfig, StreamConfig
from .events import Event
from .logs.childlog import ChildStreamLog, LogFileTable, auto_logfile_name
from .loop import EventLoop
from .osapi import ChildPipes
from .recorder import ChannelRecorder, MainLogLike

if TYPE_CHECKING:
    from typing import Any

    from .output_tail import OutputTail
    from .process import Process

READ_SIZE = 1 << 16  # a pipe's default capacity: one read empties a full pipe
# A child that fills its pipe is a bulk writer: its pipe grows to this (Linux's default
# pipe-max-size), so each wake-up moves up to 1 MiB instead of 64 KiB. Only plain channels
# grow (straight to the log): event payloads and capture keep supervisord's chunk sizes.
BIG_PIPE_SIZE = 1 << 20
# A read this small means the child writes in a trickle (a line at a time): waiting a
# moment before the next read lets it take many writes at once, which is most of the
# daemon's CPU for chatty programs. A full pipe is always read at once.
SMALL_READ = 4096
TRICKLE_DELAY = 0.01
# The wait adapts: a read after a wait that finds the pipe full means the writer was
# blocked, so the wait halves (down to this); a small one lets it grow back.
MIN_TRICKLE_DELAY = 0.001
DRAIN_READS = 4  # reads per pipe when a child has exited
# One read buffer for the whole daemon: the loop is single-threaded and every consumer
# copies what it keeps before the next read. An anonymous mapping, not a bytearray: its
# pages become resident only when a read fills them (a bytearray zero-fills all 1 MiB).
_READ_BUFFER = mmap.mmap(-1, BIG_PIPE_SIZE)
# Grown pipes count against the user's pipe quota (fs.pipe-user-pages-soft, 64 MiB by
# default); past it the kernel gives every new pipe of that user 8 KiB. So at most this
# many pipes are grown at a time in one daemon.
MAX_GROWN_PIPES = 16
_grown_pipes: set[int] = set()

STDOUT = "stdout"
STDERR = "stderr"


def _resolve_logfile(
    stream: StreamConfig, process_name: str, channel: str, childlogdir: str, identifier: str
) -> str | None:
    if stream.logfile is LogfileSpecial.AUTO:
        return auto_logfile_name(childlogdir, process_name, channel, identifier)
    return stream.logfile  # a path, or None for NONE


def _is_auto(stream: StreamConfig) -> bool:
    return stream.logfile is LogfileSpecial.AUTO


class ProcessLogs:
    """The stdout and stderr of one process: capture, events, log files (opened on first use).

    For an event listener, stdout is the protocol channel: it is logged but never captured
    and raises no PROCESS_LOG events, as in supervisord.
    """

    def __init__(
        self,
        process: Process,
        childlogdir: str,
        identifier: str,
        strip_ansi: bool,
        files: LogFileTable,
        mainlog: MainLogLike,
        publish: Callable[[Event], None],
        listener: bool = False,
    ) -> None:
        config: ProcessConfig = process.config
        self.process = process
        self.config = config
        self.mainlog = mainlog
        self.publish = publish
        self.listener = listener
        self.strip_ansi = strip_ansi
        # Shared per daemon: stdout and stderr (or two programs) may name one file.
        self.files = files
        self.stdout_path = _resolve_logfile(
            config.stdout, config.name, STDOUT, childlogdir, identifier
        )
        self.stderr_path = (
            None
            if config.redirect_stderr
            else _resolve_logfile(config.stderr, config.name, STDERR, childlogdir, identifier)
        )
        self._sinks: dict[str, ChildStreamLog] = {}
        self._recorders: dict[str, ChannelRecorder] = {}
        self._created: set[str] = set()  # channels whose log file has been opened once
        # Ours, opt-in, None when off: the last output kept for the restart history
        # (output_tail.py, set by history.py) and the bytes of each channel for GET /metrics
        # (set by counters.py).
        self.tail: OutputTail | None = None
        self.written: dict[str, int] | None = None

    def not_created_yet(self, channel: str) -> bool:
        """True for an AUTO log before the first output: supervisord would have created
        it empty at start-up, so readers answer as for an empty file. Once created, a
        file that goes missing answers as missing, as supervisord's does."""
        stream = self.config.stdout if channel == STDOUT else self.config.stderr
        path = self.stdout_path if channel == STDOUT else self.stderr_path
        return path is not None and _is_auto(stream) and channel not in self._created

    def open(self) -> None:
        """Open (create) the named log files; raises OSError if one cannot be opened.

        AUTO logs are created on their first output instead (see auto_logfile_name).
        """
        for channel, stream in ((STDOUT, self.config.stdout), (STDERR, self.config.stderr)):
            if channel in self._recorders:
                continue
            # An AUTO file that exists already (after a live upgrade) is opened now.
            lazy = _is_auto(stream) and channel not in self._sinks and channel not in self._created
            if not lazy:
                self._open_sink(channel)
            protocol_channel = self.listener and channel == STDOUT
            self._recorders[channel] = ChannelRecorder(
                self.process,
                channel,
                self._first_write(channel) if lazy else self._sinks[channel].feed,
                self.publish,
                self.mainlog,
                capture_maxbytes=0 if protocol_channel else stream.capture_maxbytes,
                events_enabled=False if protocol_channel else stream.events_enabled,
                strip_ansi=self.strip_ansi,
            )

    def _open_sink(self, channel: str) -> ChildStreamLog:
        stream = self.config.stdout if channel == STDOUT else self.config.stderr
        path = self.stdout_path if channel == STDOUT else self.stderr_path
        sink = ChildStreamLog(
            stream,
            path,
            self.strip_ansi,
            self.config.name,
            files=self.files,
            on_error=self.mainlog.error,
        )
        self._sinks[channel] = sink
        self._created.add(channel)
        return sink

    def _first_write(self, channel: str) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            try:
                sink = self._open_sink(channel)
            except OSError as error:
                self.mainlog.error(f"cannot create the log of {self.config.name!r}: {error}")
                return
            self._recorders[channel].sink = sink.feed
            sink.feed(data)

        return write

    def handover(self, encode: Callable[[bytes], str]) -> dict[str, object]:
        """What a live upgrade carries over (upgrade/fields.py): the AUTO names, which
        files exist, and per channel the bytes held back (encoded by the caller)."""
        held = {}
        for channel, recorder in self._recorders.items():
            sink = self._sinks.get(channel)
            strip, syslog = sink.held() if sink is not None else (b"", b"")
            capturing, pending, captured = recorder.held()
            if strip or syslog or capturing or pending or captured:
                held[channel] = [strip, syslog, capturing, pending, captured]
        return {
            "stdout_path": self.stdout_path,
            "stderr_path": self.stderr_path,
            "created": sorted(self._created),
            "held": {
                channel: [encode(part) if isinstance(part, bytes) else part for part in parts]
                for channel, parts in held.items()
            },
        }

    def take_over(self, saved: dict[str, Any], decode: Callable[[str], bytes]) -> None:
        """The other side of ``handover``, before the child is adopted."""
        self.stdout_path = saved["stdout_path"]
        self.stderr_path = saved["stderr_path"]
        self._created = set(saved["created"])
        if not saved["held"]:
            return
        self.open()
        for channel, (strip, syslog, capturing, pending, captured) in saved["held"].items():
            sink = self._sinks.get(channel)
            if sink is not None:
                sink.hold(decode(strip), decode(syslog))
            self._recorders[channel].hold(capturing, decode(pending), decode(captured))

    def feed(self, channel: str, data: bytes) -> None:
        recorder = self._recorders.get(channel)
        if recorder is not None:
            recorder.feed(data)
        if self.tail is not None:
            self.tail.feed(channel, data)
        if self.written is not None:
            self.written[channel] += len(data)

    def plain(self, channel: str) -> bool:
        """Whether ``channel``'s output goes straight to its log (see ChannelRecorder)."""
        recorder = self._recorders.get(channel)
        return recorder is not None and recorder.plain

    def flush(self, channel: str) -> None:
        """The stream ended: write out what was held back (a partial escape or line)."""
        sink = self._sinks.get(channel)
        if sink is not None:
            sink.flush()

    def reopen(self) -> None:
        for sink in self._sinks.values():
            sink.reopen()

    def clear(self) -> None:
        for sink in self._sinks.values():
            sink.clear()

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
        self._recorders.clear()


class ChildOutput:
    """Reads one child's pipes while it runs; ``finish()`` drains and closes them."""

    def __init__(
        self,
        loop: EventLoop,
        pipes: ChildPipes,
        logs: ProcessLogs,
        protocol: Callable[[bytes], None] | None = None,
    ) -> None:
        self.loop = loop
        self.pipes = pipes
        self.logs = logs
        # An event listener's stdout also carries its protocol (READY, RESULT ...).
        self.protocol = protocol
        self._stdin_pending = bytearray()  # bytes the stdin pipe has not taken yet
        self._open: dict[int, str] = {}
        self._delay: dict[int, float] = {}  # per fd: the current trickle wait
        self._waited: set[int] = set()  # fds whose next read follows a wait
        self._grow_tried: set[int] = set()  # fds whose pipe we tried to enlarge
        for fd, channel in ((pipes.stdout, STDOUT), (pipes.stderr, STDERR)):
            if fd is not None:
                self._open[fd] = channel
                loop.add_reader(fd, lambda fd=fd: self._read(fd))

    def _read(self, fd: int) -> None:
        try:
            size = os.readv(fd, [_READ_BUFFER])
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if not size:
            self._close(fd)
            return
        channel = self._open[fd]
        self._deliver(channel, memoryview(_READ_BUFFER)[:size])
        if self.protocol is not None and channel == STDOUT:
            return  # an event listener's protocol replies are never delayed
        if size > READ_SIZE - SMALL_READ and fd not in self._grow_tried:
            self._grow_pipe(fd, channel)
        delay = self._delay.get(fd, TRICKLE_DELAY)
        if fd in self._waited:
            self._waited.discard(fd)
            # Nearly full counts as full: small writes fill each pipe page only as far as
            # whole writes fit, so a full pipe holds a little less than READ_SIZE.
            if size > READ_SIZE - SMALL_READ:
                delay = max(delay / 2, MIN_TRICKLE_DELAY)
            elif size < SMALL_READ:
                delay = min(delay * 2, TRICKLE_DELAY)
            self._delay[fd] = delay
        if size < SMALL_READ:
            self.loop.remove_reader(fd)
            self._waited.add(fd)
            self.loop.call_later(delay, lambda: self._resume(fd))

    def _grow_pipe(self, fd: int, channel: str) -> None:
        self._grow_tried.add(fd)
        if not self.logs.plain(channel) or len(_grown_pipes) >= MAX_GROWN_PIPES:
            return
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, BIG_PIPE_SIZE)
        except OSError:
            return  # refused (the quota is used up): the pipe keeps its size
        _grown_pipes.add(fd)

    def _resume(self, fd: int) -> None:
        if fd in self._open:
            self.loop.add_reader(fd, lambda: self._read(fd))

    def _deliver(self, channel: str, data: bytes | memoryview) -> None:
        self.logs.feed(channel, data)
        if self.protocol is not None and channel == STDOUT:
            self.protocol(data)

    def _close(self, fd: int) -> None:
        channel = self._open.pop(fd, None)
        _grown_pipes.discard(fd)
        if channel is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
            self.logs.flush(channel)

    def open_pipes(self) -> ChildPipes:
        """The pipes still open (a child may have closed its stdout and run on)."""
        fds = {channel: fd for fd, channel in self._open.items()}
        return ChildPipes(self.pipes.stdin, fds.get(STDOUT), fds.get(STDERR))

    def pending_stdin(self) -> bytes:
        return bytes(self._stdin_pending)

    def write_stdin(self, data: bytes) -> None:
        """Send bytes to the child's stdin without blocking; the rest goes when writable."""
        if self.pipes.stdin is None:
            raise BrokenPipeError("the child's stdin is closed")
        was_empty = not self._stdin_pending
        self._stdin_pending += data
        if was_empty:
            self._flush_stdin()
            if self._stdin_pending and self.pipes.stdin is not None:
                self.loop.add_writer(self.pipes.stdin, self._flush_stdin)
        if self.pipes.stdin is None:
            raise BrokenPipeError("the child closed its stdin")

    def _flush_stdin(self) -> None:
        fd = self.pipes.stdin
        while self._stdin_pending and fd is not None:
            try:
                written = os.write(fd, self._stdin_pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close_stdin()  # EPIPE: the child closed its end
                return
            del self._stdin_pending[:written]
        if fd is not None:
            self.loop.remove_writer(fd)

    def _close_stdin(self) -> None:
        fd, self.pipes.stdin = self.pipes.stdin, None
        self._stdin_pending.clear()
        if fd is not None:
            self.loop.remove_writer(fd)
            try:
                os.close(fd)
            except OSError:
                pass

    def finish(self) -> None:
        """The child exited: take what is still in the pipes, then close them.

        Output written by grandchildren that keep the pipe open after this is
        dropped, as supervisord does when it closes the pipes at exit.
        """
        for fd in list(self._open):
            channel = self._open[fd]
            # At most what the pipe holds: a grandchild that keeps the pipe open and
            # writes on must not keep the loop here.
            for _ in range(DRAIN_READS):
                try:
                    size = os.readv(fd, [_READ_BUFFER])  # a grown pipe holds 1 MiB
                except OSError:
                    break
                if not size:
                    break
                self._deliver(channel, memoryview(_READ_BUFFER)[:size])
            self._close(fd)
        self._close_stdin()
