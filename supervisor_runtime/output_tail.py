"""Ours, opt-in: the last output of a process, kept in memory for its restart history.

With ``[supervisord] history = true`` (and ``history_log_lines`` > 0) each process's
ProcessLogs (output.py) hands every read of its stdout and stderr to an ``OutputTail``,
which keeps the newest TAIL_BYTES of each channel, as the pieces were read, in order across
both channels. The history (history.py) takes ``text(lines)`` into the entry of an
unexpected exit. The tail is filled from the pipes the daemon already reads: no log file is
ever opened for it (a log path may be one a tenant can replace). Without history no tail
exists and the output path does not call here at all.

The hot path (``feed``) only copies at most TAIL_BYTES of each read and drops the oldest
pieces; lines are split only when an entry asks for them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from .logs import ansi

TAIL_BYTES = 4096  # per channel
MAX_TEXT = 4096  # characters of one entry's log_tail, at most
CHANNELS = ("stdout", "stderr")
# Control characters other than tab and newline: a tail is shown on terminals (supervisorctl
# history) and pages; a program's output must not move a reader's cursor or ring its bell.
# A pattern, compiled (and cached by re) at the first tail taken, not by every daemon's start.
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"


class OutputTail:
    def __init__(self) -> None:
        self._pieces: deque[tuple[str, bytes]] = deque()  # (channel, bytes), oldest first
        self._kept = dict.fromkeys(CHANNELS, 0)  # bytes of each channel in _pieces
        self._cut: set[str] = set()  # channels whose oldest kept bytes start mid-line

    def feed(self, channel: str, data: bytes | memoryview) -> None:
        """Keep ``data`` (a view of a reused buffer is copied: at most TAIL_BYTES of it)."""
        if len(data) > TAIL_BYTES:
            self._note_cut(channel, data[-TAIL_BYTES - 1 : -TAIL_BYTES])
            data = data[-TAIL_BYTES:]
        self._pieces.append((channel, bytes(data)))
        self._kept[channel] += len(data)
        while self._kept[channel] > TAIL_BYTES:
            self._drop_oldest(channel)

    def _drop_oldest(self, channel: str) -> None:
        # The oldest piece of this channel: usually the leftmost of all pieces.
        for index, (piece_channel, piece) in enumerate(self._pieces):
            if piece_channel != channel:
                continue
            excess = self._kept[channel] - TAIL_BYTES
            if len(piece) > excess:  # trim it rather than lose all of it
                self._pieces[index] = (channel, piece[excess:])
                self._kept[channel] -= excess
                self._note_cut(channel, piece[excess - 1 : excess])
            else:
                del self._pieces[index]
                self._kept[channel] -= len(piece)
                self._note_cut(channel, piece[-1:])
            return

    def _note_cut(self, channel: str, last_dropped: bytes | memoryview) -> None:
        """Bytes were dropped ending with ``last_dropped``: after a newline, what is kept
        starts with a whole line; otherwise with the end of one."""
        if bytes(last_dropped) == b"\n":
            self._cut.discard(channel)
        else:
            self._cut.add(channel)

    def clear(self) -> None:
        """A new child: what the last one wrote is not its output."""
        self._pieces.clear()
        self._kept = dict.fromkeys(CHANNELS, 0)
        self._cut.clear()

    def lines(self) -> list[str]:
        """The complete lines kept, in the order they were read (a line is placed where its
        newline came), then any unterminated last line of each channel; ANSI escape
        sequences and other control characters removed."""
        partial: dict[str, bytes] = {}
        cut = set(self._cut)
        complete: list[bytes] = []
        for channel, piece in self._pieces:
            text = partial.get(channel, b"") + piece
            *done, partial[channel] = text.split(b"\n")
            if channel in cut and done:
                done = done[1:]  # the start of that line was dropped: not a line
                cut.discard(channel)
            complete += done
        complete += [rest for rest in partial.values() if rest]
        return [_clean(line) for line in complete]

    def text(self, lines: int) -> str:
        """The last ``lines`` lines joined with newlines, at most MAX_TEXT characters
        (whole lines: the oldest go first); "" for none."""
        kept = self.lines()[-lines:] if lines > 0 else []
        size = sum(len(line) + 1 for line in kept)
        while kept and size - 1 > MAX_TEXT:
            size -= len(kept.pop(0)) + 1
        return "\n".join(kept)

    def handover(self, encode: Callable[[bytes], str]) -> list[tuple[str, str, bool]]:
        """What a live upgrade carries (upgrade/fields.py): (channel, bytes encoded by the
        caller, starts mid-line) per piece, oldest first."""
        cut = set(self._cut)
        saved = []
        for channel, piece in self._pieces:
            saved.append((channel, encode(piece), channel in cut))
            cut.discard(channel)
        return saved

    def take_over(self, saved: list[tuple[str, str, bool]], decode: Callable[[str], bytes]) -> None:
        """The other side of ``handover``."""
        self.clear()
        for channel, encoded, cut in saved:
            if channel not in self._kept:
                continue
            if cut:
                self._cut.add(channel)
            self.feed(channel, decode(encoded))


def _clean(line: bytes) -> str:
    stripped = ansi.strip(line.rstrip(b"\r"))[0]
    return re.sub(_CONTROL, "", stripped.decode("utf-8", errors="replace"))
