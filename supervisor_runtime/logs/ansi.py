"""Removing terminal escape sequences from a child's output (``strip_ansi=true``).

supervisord strips ``ESC [`` followed by anything up to one of the letters ``HfABCDRsuJKhlpm``
and works on each read chunk alone, so a sequence cut by a read boundary leaks into the log
and an unusual final byte (``ESC [2r``) swallows text up to the next such letter. Here the
standard ECMA-48 shapes are recognised and an incomplete sequence at the end of a chunk is
held back until the next one completes it:

- CSI: ``ESC [`` parameter bytes (0x30-0x3F), intermediate bytes (0x20-0x2F), a final byte
  (0x40-0x7E). Colours and cursor moves are all of this kind; for them the output is the
  same as supervisord's.
- String sequences: ``ESC ]`` (OSC, e.g. window titles and hyperlinks), ``ESC P``,
  ``ESC X``, ``ESC ^`` and ``ESC _``, ended by BEL or ``ESC \\``.
- ``ESC`` intermediates (0x20-0x2F) final (0x30-0x7E), e.g. ``ESC ( B``.
- Two-byte forms ``ESC`` + one byte 0x30-0x7E, e.g. ``ESC 7``, ``ESC =``, ``ESC M``.
"""

from __future__ import annotations

ESC = 0x1B
_CSI = 0x5B  # [
_STRING_INTRODUCERS = frozenset(b"]PX^_")
# An unterminated string sequence is most likely a stray ESC in ordinary text; past this
# many held-back bytes, give up on it and let the text through rather than swallow output.
MAX_HOLD = 4096


def _csi_end(buf: bytes, start: int) -> tuple[int, bool]:
    """Scan parameter/intermediate bytes from ``start``: (index of the first other byte, found)."""
    i, n = start, len(buf)
    while i < n and 0x20 <= buf[i] <= 0x3F:
        i += 1
    return i, i < n


def _nf_end(buf: bytes, start: int) -> tuple[int, bool]:
    i, n = start, len(buf)
    while i < n and 0x20 <= buf[i] <= 0x2F:
        i += 1
    return i, i < n


def _string_end(buf: bytes, start: int) -> int:
    """Index just past BEL or ``ESC \\`` at or after ``start``, or -1 if neither is there."""
    bel = buf.find(b"\x07", start)
    st = buf.find(b"\x1b\\", start)
    if st == -1:
        return -1 if bel == -1 else bel + 1
    if bel != -1 and bel < st:
        return bel + 1
    return st + 2


def strip(buf: bytes, final: bool = True) -> tuple[bytes, bytes]:
    """Strip escape sequences from ``buf``.

    Returns (clean bytes, held-back tail). With ``final`` the input is complete: an
    unfinished sequence at the end is dropped (its text kept for string sequences) and
    the tail is always empty.
    """
    out: list[bytes] = []
    pos = 0
    n = len(buf)
    no_terminator_from = n + 1
    while True:
        esc = buf.find(b"\x1b", pos)
        if esc == -1:
            out.append(buf[pos:])
            return b"".join(out), b""
        out.append(buf[pos:esc])
        if esc + 1 >= n:
            # A lone ESC at the very end: the next chunk tells what it starts.
            return b"".join(out), (b"" if final else buf[esc:])
        kind = buf[esc + 1]
        if kind == _CSI or 0x20 <= kind <= 0x2F:
            if kind == _CSI:
                end, complete = _csi_end(buf, esc + 2)
                final_bytes = range(0x40, 0x7F)
            else:
                end, complete = _nf_end(buf, esc + 2)
                final_bytes = range(0x30, 0x7F)
            if complete:
                # A byte outside the grammar (a newline, say) ends the sequence early:
                # the sequence is dropped, the byte is kept as text.
                pos = end + 1 if buf[end] in final_bytes else end
                continue
            if n - esc > MAX_HOLD:
                # Never legitimately this long: drop ESC and introducer, the rest is text.
                pos = esc + 2
                continue
            return b"".join(out), (b"" if final else buf[esc:])
        if kind in _STRING_INTRODUCERS:
            # Once a search found no terminator, none exists further on either: remember
            # that rather than rescan to the end for every later introducer.
            end = -1 if esc + 2 >= no_terminator_from else _string_end(buf, esc + 2)
            if end != -1:
                pos = end
                continue
            no_terminator_from = min(no_terminator_from, esc + 2)
            if final or n - esc > MAX_HOLD:
                # Unterminated: most likely a stray ESC in ordinary text, so keep the text
                # and drop only ESC and its introducer.
                pos = esc + 2
                continue
            return b"".join(out), buf[esc:]
        # Two-byte forms drop both bytes; an ESC before a control byte or DEL is not a
        # sequence at all and only the ESC goes.
        pos = esc + 2 if 0x30 <= kind <= 0x7E else esc + 1


class AnsiStripper:
    """Stateful stripper for one stream: sequences split across feeds are still removed."""

    def __init__(self) -> None:
        self._held = b""

    @property
    def pending(self) -> bytes:
        """Bytes held back because they may start an escape sequence."""
        return self._held

    def hold(self, data: bytes) -> None:
        """Hold ``data`` back as ``pending`` was (a live upgrade hands it over)."""
        self._held = data

    def feed(self, data: bytes) -> bytes:
        if self._held:
            data = self._held + data
        elif ESC not in data:
            return data  # the common case: no escapes at all, no copying
        clean, self._held = strip(data, final=False)
        return clean

    def flush(self) -> bytes:
        """End of stream: return what remains of a held-back tail (escapes dropped)."""
        held, self._held = self._held, b""
        return strip(held, final=True)[0] if held else b""
