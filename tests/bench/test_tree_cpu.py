"""bench.tenants' CPU of a process tree (``tree_cpu``): to the nanosecond for the processes
still alive, where utime and stime (whole 10 ms ticks, cut down) lost most of a short one's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bench.tenants import process_cpu, tree_cpu

# A helper: an interpreter's start and 4 ms more of CPU, then it waits to be killed. Its
# utime and stime, each cut down to whole ticks, lose up to 10 ms each.
SHORT = (
    "import time\n"
    "end = time.thread_time() + 0.004\n"
    "while time.thread_time() < end: pass\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_tree_of_short_processes_is_counted_to_the_nanosecond() -> None:
    # A parent (the "host runtime") with three helpers.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"kids = [subprocess.Popen([sys.executable, '-c', {SHORT!r}],"
            " stdout=subprocess.PIPE) for _ in range(3)]\n"
            "for kid in kids: kid.stdout.readline()\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"ready\n"
        kids = _children(parent.pid)
        assert len(kids) == 3
        parts = tree_cpu(parent.pid)
        helpers = sum(seconds for part, seconds in parts.items() if part.startswith("helper"))
        precise = sum(process_cpu(kid) for kid in kids)
        assert precise >= 3 * 0.004
        # What the helpers used, to within what they used between the two reads.
        assert precise - 0.005 <= helpers <= precise
        assert parts["host runtime"] >= process_cpu(parent.pid) - 0.005
    finally:
        for pid in _children(parent.pid):
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(child) for child in file.read().split()]
