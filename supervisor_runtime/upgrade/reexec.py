"""The exec of a live upgrade, and its undoing when the exec itself fails.

Descriptors to keep (the children's pipes, the listening sockets, the hand-over memfd)
are made inheritable just before the exec; everything else the daemon holds is
close-on-exec and goes away (the epoll set, client connections, log files: the new daemon
opens its logs again, in append mode, at their ends).

The daemon's signals are blocked across the exec: a SIGTERM or a SIGCHLD that arrives
while the new interpreter starts stays pending (the mask survives execve) instead of
killing it with the default action, and is delivered once the new daemon has installed
its handlers (``release_held_signals``).
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import os
from collections.abc import Iterable, Mapping, Sequence

HELD_SIGNALS = frozenset(
    {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGHUP,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGCHLD,
    }
)


def reexec(
    executable: str,
    argv: Sequence[str],
    cwd: str,
    environment: Mapping[str, str],
    keep: Iterable[int],
) -> OSError:
    """Replace this process with ``argv``; returns (the error) only when the exec failed,
    with everything as it was before."""
    keep = list(keep)
    previous_cwd = os.getcwd()
    for fd in keep:
        os.set_inheritable(fd, True)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        os.chdir(cwd)
        os.execve(executable, list(argv), dict(environment))
    except OSError as error:
        failure = error
    os.chdir(previous_cwd)
    for fd in keep:
        try:
            os.set_inheritable(fd, False)
        except OSError:
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    return failure


def release_held_signals() -> None:
    """In the new daemon, once its handlers are installed: deliver what waited."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
