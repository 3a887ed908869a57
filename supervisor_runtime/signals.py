"""Signal names and wait-status decoding, worded as supervisord words them."""

from __future__ import annotations

# The signal module's C half: the same functions and constants (as plain ints), without the
# module's Signals, Handlers and Sigmasks enums, 48 KiB of every daemon's private memory
# (issue 18). The daemon's modules import it as ``signal``; signal.signal() then returns a
# previous handler as an int rather than a Handlers member (the daemon ignores it), and
# pthread_sigmask() a set of ints.
import _signal as signal
import os

_NAMES: dict[int, str] = {
    int(value): name
    for name, value in vars(signal).items()
    if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(value, int)
}
# Where names share a number (SIGIO/SIGPOLL) the later one in the module wins,
# which is also the name supervisord prints.


def signame(signum: int) -> str:
    """``SIGTERM`` for 15; ``signal 99`` for a number with no name."""
    return _NAMES.get(signum) or f"signal {signum}"


def decode_wait_status(status: int) -> tuple[int, str]:
    """(exit status or -1 when killed by a signal, supervisord's description)."""
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return code, f"exit status {code}"
    if os.WIFSIGNALED(status):
        message = f"terminated by {signame(os.WTERMSIG(status))}"
        if os.WCOREDUMP(status):
            message += " (core dumped)"
        return -1, message
    return -1, f"unknown termination cause 0x{status:04x}"
