"""An append-only byte log that rotates by size without losing or overshooting.

supervisord checks the size only after a whole record was written, so a file can exceed
``maxbytes`` by up to one read chunk (128 KiB), and it seeks on the stream, which fails with
"Illegal seek" on /dev/stdout or a pipe. Here a write is split at the boundary instead: the
part that fits goes into the current file, the file is rotated, and the rest continues in
the fresh one. Files that are not regular (tty, pipe, FIFO, character device) are only ever
written to.

Rotation scheme, the same as supervisord's: ``path`` -> ``path.1`` -> ... -> ``path.N``
(N = ``backups``), the oldest is overwritten. With ``backups=0`` the file is truncated in
place when it fills up. ``maxbytes=0`` never rotates.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

# Same permissions as a file opened with open(path, "ab"): 0o666 minus the umask.
_CREATE_MODE = 0o666
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
# A writer whose target is non-blocking (a pipe shared with a process that set O_NONBLOCK)
# waits this long for room before giving up, so a stalled reader cannot hang the daemon.
_BLOCKED_WRITE_TIMEOUT = 10.0
# /dev/stdout, /dev/fd/N and /proc/self/fd/N may lead to a regular file (shell redirection);
# renaming or truncating through those names is never what the user meant.
_NEVER_ROTATE_PREFIXES = ("/dev/", "/proc/")


class LogRotationError(OSError):
    """Rotation failed; the data was still written, to the file that could not rotate."""


def _open_append(path: str, truncate: bool = False) -> int:
    flags = _APPEND_FLAGS | (os.O_TRUNC if truncate else 0)
    try:
        return os.open(path, flags, _CREATE_MODE)
    except FileNotFoundError as exc:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise FileNotFoundError(
                exc.errno,
                f"cannot open log file {path!r}: directory {parent!r} does not exist",
                path,
            ) from None
        raise


def write_all(fd: int, data: bytes | memoryview, name: str = "") -> None:
    """Write every byte of ``data`` to ``fd``: retries short writes and waits out EAGAIN."""
    view = memoryview(data)
    deadline: float | None = None
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            now = time.monotonic()
            if deadline is None:
                deadline = now + _BLOCKED_WRITE_TIMEOUT
            if now >= deadline:
                raise BlockingIOError(
                    errno.EAGAIN,
                    f"log target {name or fd!r} accepted no data for "
                    f"{_BLOCKED_WRITE_TIMEOUT:g}s; {len(view)} bytes dropped",
                ) from None
            select.select([], [fd], [], min(0.5, deadline - now))
            continue
        deadline = None
        view = view[written:]


class RotatingFile:
    """One log file and its numbered backups. Not thread-safe (the daemon is one loop)."""

    def __init__(self, path: str, maxbytes: int, backups: int) -> None:
        if maxbytes < 0:
            raise ValueError(f"maxbytes must be >= 0, got {maxbytes}")
        if backups < 0:
            raise ValueError(f"backups must be >= 0, got {backups}")
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        self._fd = -1
        self._size = 0
        self._special = False
        self._open(truncate=False)

    # -- public API ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def size(self) -> int:
        """Bytes in the current file as far as this writer knows (0 for special files)."""
        return self._size

    @property
    def special(self) -> bool:
        """True when the target is not a regular file: it is never rotated or truncated."""
        return self._special

    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd < 0:
            raise ValueError(f"write to closed log file {self.path!r}")
        if not data:
            return
        if self._special or self.maxbytes == 0:
            write_all(self._fd, data, self.path)
            if not self._special:
                self._size += len(data)
            return
        view = memoryview(data)
        failure: OSError | None = None
        while view:
            room = self.maxbytes - self._size
            if room <= 0 and failure is None:
                failure = self._rotate_or_fail()
                continue
            # After a failed rotation the rest goes into the current file: a file over
            # maxbytes is better than bytes thrown away.
            part = view if failure is not None else view[:room]
            write_all(self._fd, part, self.path)
            self._size += len(part)
            view = view[len(part) :]
        # Rotation waits for the next byte that does not fit: a file holding exactly
        # maxbytes stays the current one, so ``path`` always ends with the newest output.
        if failure is not None:
            raise failure

    def reopen(self) -> None:
        """Close and open ``path`` again (after logrotate moved it, on SIGUSR2)."""
        self.close()
        self._open(truncate=False)

    def clear(self) -> None:
        """Empty the file at ``path``; backups are left alone. No-op for special files."""
        if self._special:
            return
        self.close()
        self._open(truncate=True)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> RotatingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RotatingFile({self.path!r}, maxbytes={self.maxbytes}, backups={self.backups}, "
            f"size={self._size}{', special' if self._special else ''})"
        )

    # -- internals ----------------------------------------------------------

    def _open(self, truncate: bool) -> None:
        fd = _open_append(self.path, truncate=truncate)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._special = not stat.S_ISREG(st.st_mode) or self.path.startswith(_NEVER_ROTATE_PREFIXES)
        self._size = 0 if self._special else st.st_size

    def _rotate_or_fail(self) -> LogRotationError | None:
        try:
            self._rotate()
        except OSError as exc:
            return LogRotationError(
                exc.errno,
                f"cannot rotate log file {self.path!r} ({exc.strerror or exc}); "
                f"writing on past maxbytes={self.maxbytes}",
                exc.filename,
            )
        return None

    def _rotate(self) -> None:
        # Rename while the old descriptor is still open: if anything fails, the writer
        # still has a valid file to write to.
        if self.backups > 0:
            for index in range(self.backups - 1, 0, -1):
                _rename_if_exists(f"{self.path}.{index}", f"{self.path}.{index + 1}")
            _rename_if_exists(self.path, f"{self.path}.1")
        new_fd = _open_append(self.path, truncate=True)
        old_fd, self._fd = self._fd, new_fd
        self._size = 0
        os.close(old_fd)


def _rename_if_exists(src: str, dst: str) -> None:
    # rename() replaces dst atomically, so the oldest backup is dropped by being overwritten.
    # A missing src is fine: a cleanup script may have removed it.
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass
