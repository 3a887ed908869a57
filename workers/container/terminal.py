"""Running a command for a caller without handing it the caller's terminal.

A command entered into a tenant's container runs as the tenant, beside whatever the tenant
left running there. If it held the caller's terminal as its controlling terminal, any of the
tenant's processes could push keystrokes into it (TIOCSTI) and they would be read by the
caller's shell after the command ends: an operator's root shell, for ``hostingctl exec``.
So the command never gets that terminal:

- ``run_on_own_pty``: when any of the caller's standard streams is a terminal, the command
  gets a new pseudo terminal of its own (a new session, the pty as its controlling
  terminal), and this process, which the tenant cannot reach, copies bytes between the two,
  as ``docker exec -t`` does; the caller's window size goes along;
- ``run_detached``: otherwise, the command runs in a new session with no controlling
  terminal at all, its standard streams as given.

Both return the command's exit status, shell style (128 + signal when killed).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import tty
from collections.abc import Callable, Sequence

CHUNK = 65536
POLL_SECONDS = 0.1  # how soon the end of the command is noticed


def exit_status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def any_terminal() -> bool:
    """Whether any of our standard streams is a terminal (then the command gets a pty)."""
    return any(os.isatty(fd) for fd in (0, 1, 2))


def run_detached(argv: Sequence[str], before_exec: Callable[[], None]) -> int:
    """``argv`` in a new session, no controlling terminal; ``before_exec`` runs in the child."""
    done = subprocess.run(list(argv), start_new_session=True, check=False, preexec_fn=before_exec)
    return done.returncode if done.returncode >= 0 else 128 - done.returncode


def _copy_window_size(target: int) -> None:
    for source in (0, 1, 2):
        try:
            size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(target, termios.TIOCSWINSZ, size)
            return
        except OSError:
            continue


def run_on_own_pty(argv: Sequence[str], before_exec: Callable[[], None]) -> int:
    """``argv`` on a new pty, relayed to and from our stdin/stdout; ``before_exec`` runs in
    the child. Ends when the command exits (what it left holding the pty is not waited for)."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    pid, master = pty.fork()
    if pid == 0:  # the child: a new session, the pty's slave as controlling terminal
        try:
            before_exec()
            os.execv(argv[0], list(argv))
        finally:
            os._exit(127)
    _copy_window_size(master)
    previous = signal.signal(signal.SIGWINCH, lambda *_: _copy_window_size(master))
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    if saved is not None:
        tty.setraw(stdin)
    try:
        status = _relay(stdin, stdout, master, pid)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        signal.signal(signal.SIGWINCH, previous)
        os.close(master)
    return exit_status(status)


def _relay(stdin: int, stdout: int, master: int, pid: int) -> int:
    """Copy both ways until the command exits, then what it wrote last; its wait status."""
    reading = [master, stdin]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _drain(master, stdout)
            return status
        try:
            ready, _, _ = select.select(reading, [], [], POLL_SECONDS)
        except InterruptedError:
            continue
        if master in ready:
            try:
                data = os.read(master, CHUNK)
            except OSError:  # EIO: every process holding the slave is gone
                data = b""
            if not data:
                reading.remove(master)
                _pid, status = os.waitpid(pid, 0)
                return status
            os.write(stdout, data)
        if stdin in ready:
            data = os.read(stdin, CHUNK)
            if not data:
                reading.remove(stdin)  # the caller closed its input; the command goes on
                continue
            os.write(master, data)


def _drain(master: int, stdout: int) -> None:
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, CHUNK)
        except OSError:
            return
        if not data:
            return
        os.write(stdout, data)
