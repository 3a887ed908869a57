"""Where one output stream of one child goes: a rotating file, syslog, or both.

Also the AUTO log files: their names (``<process>-<channel>---<identifier>-<random>.log``
inside childlogdir, created 0600 like any mkstemp file, as supervisord does) and their
removal when the daemon starts without ``nocleanup``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from supervisor_runtime.config.model import StreamConfig
from supervisor_runtime.logs import syslog as _syslog
from supervisor_runtime.logs.ansi import AnsiStripper
from supervisor_runtime.logs.rotating import RotatingFile


class LogFileTable:
    """Open log files shared by path.

    ``stdout_logfile`` and ``stderr_logfile`` often name the same file. Two independent
    writers would each count only their own bytes and, after one rotates, the other would
    go on writing into ``path.1``. Sharing one :class:`RotatingFile` per path avoids both.
    The first user's maxbytes/backups win.
    """

    def __init__(self) -> None:
        self._files: dict[str, tuple[RotatingFile, int]] = {}

    def acquire(self, path: str, maxbytes: int, backups: int) -> RotatingFile:
        key = os.path.abspath(path)
        entry = self._files.get(key)
        if entry is None or entry[0].closed:
            entry = (RotatingFile(path, maxbytes, backups), 0)
        self._files[key] = (entry[0], entry[1] + 1)
        return entry[0]

    def release(self, file: RotatingFile) -> None:
        key = os.path.abspath(file.path)
        entry = self._files.get(key)
        if entry is None or entry[0] is not file:
            file.close()
            return
        if entry[1] <= 1:
            del self._files[key]
            file.close()
        else:
            self._files[key] = (file, entry[1] - 1)

    def __len__(self) -> int:
        return len(self._files)


class ChildStreamLog:
    """The sink for one stream (stdout or stderr) of one process.

    ``logfile`` is the resolved path (AUTO already turned into a name, see
    :func:`auto_logfile_name`) or None for no file. Errors while writing go to ``on_error``
    when given (the daemon logs them and keeps running), else they are raised.
    """

    def __init__(
        self,
        config: StreamConfig,
        logfile: str | None,
        strip_ansi: bool,
        process_name: str,
        *,
        files: LogFileTable | None = None,
        syslog_emit: Callable[[str], None] = _syslog.send,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.logfile = logfile
        self.process_name = process_name
        self._files = files
        self._on_error = on_error
        self._stripper = AnsiStripper() if strip_ansi else None
        self._syslog = _syslog.SyslogWriter(process_name, syslog_emit) if config.syslog else None
        self.file: RotatingFile | None = None
        if logfile is not None:
            maxbytes, backups = config.logfile_maxbytes, config.logfile_backups
            if files is not None:
                self.file = files.acquire(logfile, maxbytes, backups)
            else:
                self.file = RotatingFile(logfile, maxbytes, backups)

    @property
    def enabled(self) -> bool:
        """False when output goes nowhere (logfile NONE, no syslog): skip the work."""
        return self.file is not None or self._syslog is not None

    def feed(self, data: bytes | memoryview) -> None:
        """Log ``data``; a memoryview is written straight to the file without a copy."""
        if self._stripper is not None:
            data = self._stripper.feed(bytes(data))
        elif self._syslog is not None:
            data = bytes(data)
        self._deliver(data)

    def flush(self) -> None:
        """The stream ended: deliver what was held back (a partial escape or line)."""
        if self._stripper is not None:
            self._deliver(self._stripper.flush())
        if self._syslog is not None:
            self._guard(self._syslog.flush)

    def held(self) -> tuple[bytes, bytes]:
        """Bytes not delivered yet: (a possible escape sequence, a partial syslog line)."""
        strip = self._stripper.pending if self._stripper is not None else b""
        return strip, self._syslog.pending if self._syslog is not None else b""

    def hold(self, strip: bytes, syslog: bytes) -> None:
        """Take back what ``held`` gave (a live upgrade): nothing is written now."""
        if self._stripper is not None:
            self._stripper.hold(strip)
        if self._syslog is not None:
            self._syslog.hold(syslog)

    def reopen(self) -> None:
        if self.file is not None:
            self._guard(self.file.reopen)

    def clear(self) -> None:
        if self.file is not None:
            self._guard(self.file.clear)

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            file, self.file = self.file, None
            if self._files is not None:
                self._files.release(file)
            else:
                file.close()

    def _deliver(self, data: bytes) -> None:
        if not data:
            return
        if self.file is not None:
            self._guard(self.file.write, data)
        if self._syslog is not None:
            self._guard(self._syslog.write, data)

    def _guard(self, action: Callable[..., None], *args: bytes) -> None:
        try:
            action(*args)
        except OSError as exc:
            if self._on_error is None:
                raise
            self._on_error(f"log for {self.process_name!r} ({self.logfile}): {exc}")


def auto_logfile_name(childlogdir: str, process_name: str, channel: str, identifier: str) -> str:
    """A fresh, unique path for an AUTO log: ``<name>-<channel>---<identifier>-<random>.log``.

    The file itself is not created here: creating a file costs about a millisecond on
    a journaling disk, so the daemon creates AUTO logs on their first output (a program
    that never writes gets none) instead of thousands of empty files at start-up.
    """
    while True:
        path = os.path.join(
            childlogdir,
            f"{process_name}-{channel}---{identifier}-{os.urandom(4).hex()}.log",
        )
        if not os.path.exists(path):
            return path


def auto_log_pattern(identifier: str) -> re.Pattern[str]:
    """Names of AUTO logs (and their numbered backups) of the daemon called ``identifier``.

    Like supervisord, the match is anchored at the start only, and files of any process
    and channel match. The identifier is matched literally (supervisord puts it into the
    pattern unescaped).
    """
    return re.compile(r".+?---" + re.escape(identifier) + r"-\S+\.log\.?\d{0,4}")


def clean_auto_logs(
    childlogdir: str, identifier: str, warn: Callable[[str], None] | None = None
) -> list[str]:
    """Remove leftover AUTO logs at startup; returns the paths removed.

    Problems are passed to ``warn`` with supervisord's wording and never raised.
    """
    report = warn or (lambda _msg: None)
    try:
        names = os.listdir(childlogdir)
    except OSError:
        report("Could not clear childlog dir")
        return []
    pattern = auto_log_pattern(identifier)
    removed = []
    for name in sorted(names):
        if not pattern.match(name):
            continue
        path = os.path.join(childlogdir, name)
        try:
            os.remove(path)
        except OSError:
            report(f"Failed to clean up {path!r}")
        else:
            removed.append(path)
    return removed
