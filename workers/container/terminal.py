"""Running a command for a caller without handing it the caller's terminal.

A command entered into a tenant's container runs as the tenant, beside whatever the tenant
left running there. If it held the caller's terminal as its controlling terminal, any of the
tenant's processes could push keystrokes into it (TIOCSTI) and they would be read by the
caller's shell after the command ends: an operator's root shell, for ``hostingctl exec``.
So the command never gets that terminal:

- ``run_on_own_pty``: when the caller is at a terminal, the command gets a new pseudo
  terminal of its own (a new session, the pty as its controlling terminal), and this
  process, which the tenant cannot reach, copies bytes between the two, as ``docker exec -t``
  does; the caller's window size goes along;
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
from collections.abc import Sequence

CHUNK = 65536


def exit_status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def run_detached(argv: Sequence[str]) -> int:
    done = subprocess.run(list(argv), start_new_session=True, check=False)
    return done.returncode if done.returncode >= 0 else 128 - done.returncode


def _copy_window_size(source: int, target: int) -> None:
    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def run_on_own_pty(argv: Sequence[str]) -> int:
    """``argv`` on a new pty, relayed to and from our stdin/stdout (a terminal)."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    pid, master = pty.fork()
    if pid == 0:  # the child: a new session, the pty's slave as controlling terminal
        try:
            os.execv(argv[0], list(argv))
        finally:
            os._exit(127)
    _copy_window_size(stdin, master)
    previous = signal.signal(signal.SIGWINCH, lambda *_: _copy_window_size(stdin, master))
    saved = termios.tcgetattr(stdin)
    tty.setraw(stdin)
    try:
        _relay(stdin, stdout, master)
    finally:
        termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        signal.signal(signal.SIGWINCH, previous)
        os.close(master)
    _pid, status = os.waitpid(pid, 0)
    return exit_status(status)


def _relay(stdin: int, stdout: int, master: int) -> None:
    """Copy until the command's side of the pty closes (it exited)."""
    reading = [master, stdin]
    while True:
        try:
            ready, _, _ = select.select(reading, [], [])
        except InterruptedError:
            continue
        if master in ready:
            try:
                data = os.read(master, CHUNK)
            except OSError:  # EIO: every process holding the slave is gone
                return
            if not data:
                return
            os.write(stdout, data)
        if stdin in ready:
            data = os.read(stdin, CHUNK)
            if not data:
                reading.remove(stdin)  # the caller closed its input; the command goes on
                continue
            os.write(master, data)
