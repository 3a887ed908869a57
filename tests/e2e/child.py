"""Tiny child programs for the end-to-end tests: `python child.py MODE [args]`.

Standard library only and quick to start, because supervisord runs it many times per test.
Every mode that has something to report writes it to a file named on its command line, written
to a temporary name and renamed so a test polling for the file never reads half of it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

CATCHABLE = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2")


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    Path(tmp).write_text(text)
    os.replace(tmp, path)


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


def mode_sleep(args: argparse.Namespace) -> None:
    if args.pidfile:
        write_atomic(args.pidfile, str(os.getpid()))
    sleep_forever()


def mode_exit(args: argparse.Namespace) -> None:
    time.sleep(args.after)
    if args.count_file:
        # Append one line per run so a test can count how many times it was spawned.
        with open(args.count_file, "a") as f:
            f.write(f"{os.getpid()}\n")
    sys.exit(args.code)


def mode_lines(args: argparse.Namespace) -> None:
    out = sys.stderr if args.stream == "err" else sys.stdout
    for i in range(args.count):
        print(f"{args.prefix}{i}", file=out, flush=True)
        if args.stream == "both":
            print(f"{args.prefix}err{i}", file=sys.stderr, flush=True)
    if args.then_exit is not None:
        sys.exit(args.then_exit)
    sleep_forever()


def mode_bytes(args: argparse.Namespace) -> None:
    """Write `total` bytes of a known pattern (line numbers) in writes of `chunk` bytes."""
    data = known_stream(args.total)
    fd = sys.stdout.fileno()
    for start in range(0, len(data), args.chunk):
        view = memoryview(data)[start : start + args.chunk]
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if args.pause:
            time.sleep(args.pause)
    if args.done_file:
        write_atomic(args.done_file, "done")
    if args.exit:
        sys.exit(0)
    sleep_forever()


def known_stream(total: int) -> bytes:
    """Deterministic bytes: `000000 xxxx...\\n` lines, truncated to `total` bytes."""
    lines = []
    size = 0
    n = 0
    while size < total:
        line = f"{n:06d} {'x' * 57}\n".encode()
        lines.append(line)
        size += len(line)
        n += 1
    return b"".join(lines)[:total]


ANSI_LINE = "\x1b[31mred\x1b[0m plain \x1b[1;32mbold\x1b[0m"


def mode_ansi(args: argparse.Namespace) -> None:
    """Print one line full of ANSI colour escapes (for strip_ansi), then sleep."""
    print(ANSI_LINE, flush=True)
    sleep_forever()


def mode_relay(args: argparse.Namespace) -> None:
    """Print every line written into the named pipe FIFO, so a test controls output timing."""
    while True:
        with open(args.fifo) as fifo:
            for line in fifo:
                print(line, end="", flush=True)


def mode_signals(args: argparse.Namespace) -> None:
    """Record every catchable signal received (one name per line); exit on the first one
    unless --keep-running, in which case only SIGKILL ends it."""

    def handler(signum: int, _frame: object) -> None:
        with open(args.file, "a") as f:
            f.write(signal.Signals(signum).name + "\n")
        if not args.keep_running:
            sys.exit(0)

    for name in CATCHABLE:
        signal.signal(getattr(signal, name), handler)
    if args.pidfile:
        write_atomic(args.pidfile, str(os.getpid()))
    sleep_forever()


def mode_grandchild(args: argparse.Namespace) -> None:
    """Spawn a sleeping grandchild in our process group, record its pid, then sleep."""
    pid = os.fork()
    if pid == 0:
        if args.grandchild_ignores_term:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sleep_forever()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    write_atomic(args.file, str(pid))
    sleep_forever()


def mode_context(args: argparse.Namespace) -> None:
    """Dump what the child was started with: environment, cwd, umask, argv, pgid."""
    umask = os.umask(0)
    os.umask(umask)
    info = {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": f"{umask:03o}",
        "argv": sys.argv,
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
    }
    write_atomic(args.file, json.dumps(info))
    sleep_forever()


def mode_reap_check(args: argparse.Namespace) -> None:
    """Double-fork an orphan that exits at once, then watch /proc: report whether its zombie
    is reaped by PID 1 (only meaningful when we run in a PID namespace under the daemon)."""
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:
        orphan = os.fork()
        if orphan == 0:
            # The grandchild: an orphan once its parent exits; it exits shortly after.
            time.sleep(0.2)
            os._exit(0)
        os.write(write_end, str(orphan).encode())
        os._exit(0)
    os.close(write_end)
    orphan = int(os.read(read_end, 32))
    os.waitpid(first, 0)
    deadline = time.monotonic() + args.timeout
    state = proc_state(orphan)
    while state and time.monotonic() < deadline:
        time.sleep(0.05)
        state = proc_state(orphan)
    report = {"orphan": orphan, "state": state, "zombies": list_zombies(), "pid1": read_comm(1)}
    write_atomic(args.file, json.dumps(report))
    sleep_forever()


def proc_state(pid: int) -> str:
    """One-letter state from /proc/<pid>/stat ('Z' for a zombie), '' once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2]


def list_zombies() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        if proc_state(int(entry)) == "Z":
            found.append(int(entry))
    return found


def read_comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)

    p = sub.add_parser("sleep", help="sleep forever")
    p.add_argument("--pidfile")
    p.set_defaults(func=mode_sleep)

    p = sub.add_parser("exit", help="exit with CODE after AFTER seconds")
    p.add_argument("code", type=int)
    p.add_argument("--after", type=float, default=0.0)
    p.add_argument("--count-file")
    p.set_defaults(func=mode_exit)

    p = sub.add_parser("lines", help="print COUNT numbered lines, then sleep (or exit)")
    p.add_argument("count", type=int)
    p.add_argument("--prefix", default="line")
    p.add_argument("--stream", choices=("out", "err", "both"), default="out")
    p.add_argument("--then-exit", type=int)
    p.set_defaults(func=mode_lines)

    p = sub.add_parser("bytes", help="write TOTAL bytes of a known stream, then sleep")
    p.add_argument("total", type=int)
    p.add_argument("--chunk", type=int, default=4096)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--done-file")
    p.add_argument("--exit", action="store_true", help="exit once written instead of sleeping")
    p.set_defaults(func=mode_bytes)

    p = sub.add_parser("ansi", help="print a line with ANSI colour escapes, then sleep")
    p.set_defaults(func=mode_ansi)

    p = sub.add_parser("relay", help="echo lines written to the named pipe FIFO")
    p.add_argument("fifo")
    p.set_defaults(func=mode_relay)

    p = sub.add_parser("signals", help="record received signals into FILE")
    p.add_argument("file")
    p.add_argument("--keep-running", action="store_true")
    p.add_argument("--pidfile")
    p.set_defaults(func=mode_signals)

    p = sub.add_parser("grandchild", help="fork a sleeping grandchild, its pid into FILE")
    p.add_argument("file")
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--grandchild-ignores-term", action="store_true")
    p.set_defaults(func=mode_grandchild)

    p = sub.add_parser("context", help="dump env/cwd/umask as JSON into FILE")
    p.add_argument("file")
    p.set_defaults(func=mode_context)

    p = sub.add_parser("reap-check", help="orphan a grandchild; report zombies into FILE")
    p.add_argument("file")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=mode_reap_check)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
