"""Reading logs back for the RPC layer, with supervisord's exact argument rules.

``read_file`` backs readLog / readProcessStdoutLog (a window of the file by offset and
length); ``tail_file`` backs tailProcessStdoutLog (follow the end of a growing file).
The RPC layer turns ``ValueError("BAD_ARGUMENTS")`` / ``ValueError("FAILED")`` into the
faults of the same names, and decodes the bytes.
"""

from __future__ import annotations

import os

BAD_ARGUMENTS = "BAD_ARGUMENTS"
FAILED = "FAILED"


def read_file(path: str, offset: int, length: int) -> bytes:
    """Read ``length`` bytes of ``path`` from ``offset``.

    - ``offset >= 0``: read from that position; ``length == 0`` means to the end, a
      negative length is ``BAD_ARGUMENTS``.
    - ``offset < 0``: the last ``-offset`` bytes (fewer if the file is shorter); ``length``
      must then be 0, else ``BAD_ARGUMENTS``.

    Any OS error (missing file, unreadable) is ``ValueError("FAILED")``. The file is
    opened before the arguments are judged, so a missing file is FAILED whatever they are.
    """
    try:
        with open(path, "rb") as f:
            if offset < 0:
                if length:
                    raise ValueError(BAD_ARGUMENTS)
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size + offset))
                return f.read(-offset)
            if length < 0:
                raise ValueError(BAD_ARGUMENTS)
            f.seek(offset)
            return f.read() if length == 0 else f.read(length)
    except OSError:
        raise ValueError(FAILED) from None


def tail_file(path: str, offset: int, length: int) -> tuple[bytes, int, bool]:
    """Up to ``length`` bytes ending at the end of ``path``, for a reader that was at ``offset``.

    Returns (data, new offset, overflow). The new offset is always the file size.
    ``overflow`` is True when the file grew past ``offset + length`` since the last call,
    i.e. the reader missed bytes. When the file cannot be read the answer is
    ``(b"", offset, False)`` with the caller's offset unchanged.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            overflow = False
            # The arithmetic below mirrors supervisord step by step, including its
            # corner cases (e.g. a reader ahead of the end gets nothing, offset = size).
            if size > offset + length:
                overflow = True
                offset = size - 1
            if offset + length > size:
                if offset > size - 1:
                    length = 0
                offset = size - length
            offset = max(offset, 0)
            length = max(length, 0)
            if length == 0:
                data = b""
            else:
                f.seek(offset)
                data = f.read(length)
            return data, size, overflow
    except OSError:
        return b"", offset, False
