"""Moving a child's stdout/stderr from its pipes into its log sinks.

``ProcessLogs`` lives as long as the process's configuration (AUTO log names
are chosen once, as supervisord does); ``ChildOutput`` lives for one spawned
child and is the only reader of its pipes. Reads happen only when the loop
says a pipe is readable: an idle child costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .config.model import LogfileSpecial, ProcessConfig, StreamConfig
from .logs.childlog import ChildStreamLog, LogFileTable, auto_logfile_name
from .loop import EventLoop
from .osapi import ChildPipes

READ_SIZE = 1 << 16

STDOUT = "stdout"
STDERR = "stderr"


def _resolve_logfile(
    stream: StreamConfig, process_name: str, channel: str, childlogdir: str, identifier: str
) -> str | None:
    if stream.logfile is LogfileSpecial.AUTO:
        return auto_logfile_name(childlogdir, process_name, channel, identifier)
    return stream.logfile  # a path, or None for NONE


class ProcessLogs:
    """The stdout and stderr sinks of one process; files open on first use."""

    def __init__(
        self,
        config: ProcessConfig,
        childlogdir: str,
        identifier: str,
        strip_ansi: bool,
        files: LogFileTable,
        on_error: Callable[[str], None],
    ) -> None:
        self.config = config
        self.on_error = on_error
        self.strip_ansi = strip_ansi
        # Shared per daemon: stdout and stderr (or two programs) may name one file.
        self.files = files
        self.stdout_path = _resolve_logfile(
            config.stdout, config.name, STDOUT, childlogdir, identifier
        )
        self.stderr_path = (
            None if config.redirect_stderr
            else _resolve_logfile(config.stderr, config.name, STDERR, childlogdir, identifier)
        )
        self._sinks: dict[str, ChildStreamLog] = {}

    def open(self) -> None:
        """Open (create) the log files; raises OSError if one cannot be opened."""
        for channel, stream, path in (
            (STDOUT, self.config.stdout, self.stdout_path),
            (STDERR, self.config.stderr, self.stderr_path),
        ):
            if channel not in self._sinks:
                self._sinks[channel] = ChildStreamLog(
                    stream,
                    path,
                    self.strip_ansi,
                    self.config.name,
                    files=self.files,
                    on_error=self.on_error,
                )

    def feed(self, channel: str, data: bytes) -> None:
        sink = self._sinks.get(channel)
        if sink is not None:
            sink.feed(data)

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


class ChildOutput:
    """Reads one child's pipes while it runs; ``finish()`` drains and closes them."""

    def __init__(self, loop: EventLoop, pipes: ChildPipes, logs: ProcessLogs) -> None:
        self.loop = loop
        self.pipes = pipes
        self.logs = logs
        self._open: dict[int, str] = {}
        for fd, channel in ((pipes.stdout, STDOUT), (pipes.stderr, STDERR)):
            if fd is not None:
                self._open[fd] = channel
                loop.add_reader(fd, lambda fd=fd: self._read(fd))

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.logs.feed(self._open[fd], data)
        else:
            self._close(fd)

    def _close(self, fd: int) -> None:
        channel = self._open.pop(fd, None)
        if channel is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
            self.logs.flush(channel)

    def finish(self) -> None:
        """The child exited: take what is still in the pipes, then close them.

        Output written by grandchildren that keep the pipe open after this is
        dropped, as supervisord does when it closes the pipes at exit.
        """
        for fd in list(self._open):
            channel = self._open[fd]
            while True:
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError:
                    break
                if not data:
                    break
                self.logs.feed(channel, data)
            self._close(fd)
        if self.pipes.stdin is not None:
            try:
                os.close(self.pipes.stdin)
            except OSError:
                pass
            self.pipes.stdin = None
