"""supervisord's own activity log (``[supervisord] logfile=``).

Lines look exactly like supervisord's::

    2026-11-22 02:34:00,123 INFO spawned: 'app' with pid 12

Targets, any combination of:

- a file, through :class:`RotatingFile` (so it never exceeds ``logfile_maxbytes``), or
  syslog when the path is the magic word ``syslog`` (one message per line of a record);
- an echo to the daemon's stdout, which supervisord adds with ``nodaemon=true`` and
  ``silent=false``;
- an in-memory buffer: a log created with ``buffer=True`` keeps its records until
  :meth:`MainLog.set_target` names the real destination, so nothing logged during startup
  (before the configuration says where the log goes) is lost.

Logging never raises: a failed write is reported on stderr and the daemon goes on, as with
supervisord.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable

from supervisor_runtime.config.model import LOG_LEVELS
from supervisor_runtime.logs import syslog as _syslog
from supervisor_runtime.logs.rotating import RotatingFile
from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

CRITICAL = LOG_LEVELS["critical"]
ERROR = LOG_LEVELS["error"]
WARN = LOG_LEVELS["warn"]
INFO = LOG_LEVELS["info"]
DEBUG = LOG_LEVELS["debug"]
TRACE = LOG_LEVELS["trace"]
BLATHER = LOG_LEVELS["blather"]

# The four-letter names supervisord writes in each line.
LEVEL_NAMES: dict[int, str] = {
    CRITICAL: "CRIT",
    ERROR: "ERRO",
    WARN: "WARN",
    INFO: "INFO",
    DEBUG: "DEBG",
    TRACE: "TRAC",
    BLATHER: "BLAT",
}

SYSLOG_TARGET = "syslog"
DEFAULT_MAXBYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 10
# Startup is short; if set_target() never comes, keep the newest records only.
MAX_BUFFERED = 10_000


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level) or f"LEVEL{level}"


class _Timestamps:
    """``YYYY-MM-DD HH:MM:SS,mmm`` in local time; strftime runs once per second, not per line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        # Milliseconds are truncated, not rounded, as supervisord does.
        return f"{self._prefix},{int((now - second) * 1000):03d}"


class MainLog:
    """The daemon's log. Cheap to call when a level is filtered out; check
    :meth:`is_enabled` first where building the message itself is costly."""

    def __init__(
        self,
        path: str | None = None,
        maxbytes: int = DEFAULT_MAXBYTES,
        backups: int = DEFAULT_BACKUPS,
        level: int = INFO,
        echo: bool = False,
        clock: Callable[[], float] = time.time,
        *,
        buffer: bool = False,
        echo_stream: TextIO | None = None,
        syslog_emit: Callable[[str], None] = _syslog.send,
    ) -> None:
        self.level = level
        self._clock = clock
        self._timestamp = _Timestamps()
        self._syslog_emit = syslog_emit
        self._echo_stream = echo_stream
        self.path: str | None = None
        self._file: RotatingFile | None = None
        self._to_syslog = False
        self._echo = False
        self._buffer: deque[tuple[int, float, str]] | None = None
        if buffer:
            self._buffer = deque(maxlen=MAX_BUFFERED)
        else:
            self._open(path, maxbytes, backups, echo)

    # -- configuration -------------------------------------------------------

    @property
    def buffering(self) -> bool:
        return self._buffer is not None

    def set_target(
        self,
        path: str | None,
        maxbytes: int = DEFAULT_MAXBYTES,
        backups: int = DEFAULT_BACKUPS,
        echo: bool = False,
        level: int | None = None,
    ) -> None:
        """Open the real destination and write out what was buffered so far.

        Raises OSError (naming the path) when the file cannot be opened; the buffer is
        kept then, so the caller can report the error and try another target.
        """
        self.close()
        self._open(path, maxbytes, backups, echo)
        if level is not None:
            self.level = level
        pending, self._buffer = self._buffer, None
        for record_level, when, msg in pending or ():
            if record_level >= self.level:
                self._emit(record_level, when, msg)

    def _open(self, path: str | None, maxbytes: int, backups: int, echo: bool) -> None:
        self.path = path
        self._echo = echo
        self._to_syslog = path == SYSLOG_TARGET
        if path is not None and not self._to_syslog:
            self._file = RotatingFile(path, maxbytes, backups)

    # -- logging -------------------------------------------------------------

    def is_enabled(self, level: int) -> bool:
        # While buffering the final level is not known yet: keep everything.
        return self._buffer is not None or level >= self.level

    def log(self, level: int, msg: str) -> None:
        if self._buffer is not None:
            self._buffer.append((level, self._clock(), msg))
        elif level >= self.level:
            self._emit(level, self._clock(), msg)

    def critical(self, msg: str) -> None:
        self.log(CRITICAL, msg)

    def error(self, msg: str) -> None:
        self.log(ERROR, msg)

    def warn(self, msg: str) -> None:
        self.log(WARN, msg)

    warning = warn

    def info(self, msg: str) -> None:
        self.log(INFO, msg)

    def debug(self, msg: str) -> None:
        self.log(DEBUG, msg)

    def trace(self, msg: str) -> None:
        self.log(TRACE, msg)

    def blather(self, msg: str) -> None:
        self.log(BLATHER, msg)

    def format(self, level: int, when: float, msg: str) -> str:
        return f"{self._timestamp(when)} {level_name(level)} {msg}\n"

    def _emit(self, level: int, when: float, msg: str) -> None:
        line = self.format(level, when, msg)
        if self._echo:
            self._write_echo(line)
        if self._file is not None:
            try:
                self._file.write(line.encode("utf-8", errors="backslashreplace"))
            except OSError as exc:
                _report(f"cannot write main log {self.path!r}: {exc}")
        elif self._to_syslog:
            prefix = f"{self._timestamp(when)} {level_name(level)} "
            try:
                for part in msg.rstrip("\n").split("\n"):
                    self._syslog_emit(prefix + part)
            except OSError as exc:
                _report(f"cannot write main log to syslog: {exc}")

    def _write_echo(self, line: str) -> None:
        stream = self._echo_stream or sys.stdout
        try:
            stream.write(line)
            stream.flush()
        except BrokenPipeError:
            pass  # whoever read our stdout went away; the file still has the line
        except (OSError, ValueError) as exc:
            _report(f"cannot echo main log to stdout: {exc}")

    # -- file management -----------------------------------------------------

    def reopen(self) -> None:
        """Reopen the file at its path (SIGUSR2, after logrotate moved it)."""
        if self._file is not None:
            self._file.reopen()

    def clear(self) -> None:
        """Empty the current file (clearLog); backups stay."""
        if self._file is not None:
            self._file.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _report(text: str) -> None:
    try:
        sys.stderr.write(f"supervisord: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
