"""Sending a child's output to syslog (``stdout_syslog=true`` / ``stderr_syslog=true``).

Each line becomes one syslog message ``"<process name> <line>"`` at LOG_INFO, through the
standard ``syslog`` module without openlog(), so the ident is the daemon's program name,
as with supervisord. supervisord splits every read chunk into lines, so a line cut by a
read boundary turns into two messages; here a partial line waits for its newline.
"""

from __future__ import annotations

from collections.abc import Callable

# A line with no newline in sight is sent once it reaches this size, so a child printing a
# progress bar without newlines cannot grow the buffer without bound. Classic syslog
# daemons cut messages at 1-8 KiB anyway.
MAX_LINE = 8192


def send(message: str) -> None:
    """Send one message to syslog at the default priority (LOG_INFO), as supervisord does.

    The module is imported here, by the first message: a daemon that logs nothing to
    syslog does not keep it (issue 18, docs/ARCHITECTURE.md)."""
    try:
        import syslog
    except ImportError:  # pragma: no cover - every POSIX Python has it
        raise OSError("the syslog module is not available on this platform") from None
    syslog.syslog(message)


def decode(data: bytes) -> str:
    # Child output need not be UTF-8; supervisord raises (and loses the line) on bad bytes.
    return data.decode("utf-8", errors="replace")


class SyslogWriter:
    """Line-buffered syslog sink for one stream of one process."""

    def __init__(self, tag: str, emit: Callable[[str], None] = send) -> None:
        self.tag = tag
        self._emit = emit
        self._partial = b""

    @property
    def pending(self) -> bytes:
        return self._partial

    def hold(self, partial: bytes) -> None:
        """Take back a partial line (a live upgrade hands it over)."""
        self._partial = partial

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._partial:
            data = self._partial + data
        last_newline = data.rfind(b"\n")
        if last_newline == -1:
            self._partial = data
        else:
            for line in data[:last_newline].split(b"\n"):
                self._send(line)
            self._partial = data[last_newline + 1 :]
        while len(self._partial) >= MAX_LINE:
            self._send(self._partial[:MAX_LINE])
            self._partial = self._partial[MAX_LINE:]

    def flush(self) -> None:
        """Send a pending partial line (the process exited, or its log is being closed)."""
        if self._partial:
            line, self._partial = self._partial, b""
            self._send(line)

    def close(self) -> None:
        self.flush()

    def _send(self, line: bytes) -> None:
        self._emit(f"{self.tag} {decode(line)}")
