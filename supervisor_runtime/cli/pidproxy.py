"""pidproxy: run a program that daemonizes itself, and pass signals on to its real pid.

Some servers (mysqld_safe, for one) fork the process that does the work and record its
pid in a file. Under supervisord, pidproxy stands in for them: it starts the command,
stays in the foreground, and whenever it receives TERM, HUP, INT, QUIT, USR1 or USR2 it
sends the same signal to the pid found in the pidfile. After TERM, INT or QUIT it exits
at once (status 0); otherwise it exits, with status 0, when the command it started exits.

Behaviour follows supervisord 4.3.0's pidproxy, except that the exit of the command is
noticed at once rather than up to five seconds later, and a command that cannot be
started is an error (status 127) instead of a silent exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

USAGE = "Usage: %s <pidfile name> <command> [<cmdarg1> ...]"
FORWARDED = (
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGQUIT,
)
# After forwarding one of these, the proxied program is going away: so does pidproxy.
TERMINATING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})


def usage(prog: str) -> str:
    return (
        "pidproxy -- run a command and forward signals to the pid in its pidfile.\n\n"
        "Runs <command>; each TERM, HUP, INT, QUIT, USR1 or USR2 received is sent on\n"
        "to the process whose pid is in <pidfile name>.\n\n" + USAGE % prog + "\n"
    )


def read_pid(pidfile: str) -> int:
    with open(pidfile) as f:
        return int(f.read().strip())


class PidProxy:
    def __init__(self, pidfile: str, command: Sequence[str]) -> None:
        self.pidfile = pidfile
        self.command = list(command)
        # As supervisord's pidproxy: the command is made absolute, not searched on PATH.
        self.executable = os.path.abspath(command[0])
        self.child: subprocess.Popen[bytes] | None = None

    def forward(self, signum: int, _frame: FrameType | None = None) -> None:
        try:
            pid = read_pid(self.pidfile)
        except (OSError, ValueError):
            print(f"Can't read child pidfile {self.pidfile}!", flush=True)
            return
        try:
            os.kill(pid, signum)
        except OSError as exc:
            print(
                f"Can't send {signal.Signals(signum).name} to pid {pid} "
                f"(from {self.pidfile}): {exc.strerror}",
                file=sys.stderr,
                flush=True,
            )
            if signum in TERMINATING:
                sys.exit(1)
            return
        if signum in TERMINATING:
            sys.exit(0)

    def run(self) -> int:
        for signum in FORWARDED:
            signal.signal(signum, self.forward)
        try:
            self.child = subprocess.Popen(self.command, executable=self.executable)
        except OSError as exc:
            print(f"pidproxy: cannot run {self.executable!r}: {exc.strerror}", file=sys.stderr)
            return 127
        # wait() restarts after each forwarded signal's handler (PEP 475); a terminating
        # signal's handler leaves through SystemExit instead.
        self.child.wait()
        return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv if argv is None else argv)
    if len(args) < 3:
        print(usage(args[0] if args else "pidproxy"), end="")
        sys.exit(1)
    sys.exit(PidProxy(args[1], args[2:]).run())


if __name__ == "__main__":
    main()
