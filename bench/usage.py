"""What the usage sampler (``workers.usage``) costs per round, per app.

    python -m bench.usage [--apps N ...] [--rounds R]     # as root: it makes cgroups

For each N: N apps, each a cgroup of the host's hierarchy (``hosting-tenants/<key>``, the
containers' own place) holding a real process tree like a tenant's: a parent (its runtime)
and three programs (``sleep``), with the app's status in a real redis-server naming the
programs' pids. The sampler's rounds run as on a host (``Sampler.round``: status from Redis,
cgroup files, ``/proc`` of every process, the samples and events written in one pipeline);
the table gives the sampler's own CPU time per round (user + system) and wall time,
medians over the rounds after the first (which also reads each process's ``NSpid`` once).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hosting.status import write_app_status

from tests.web.redis_server import start_redis
from workers.container import cgroups
from workers.container.spec import Limits
from workers.usage import Sampler, Target, children

PROGRAMS = 3
TREE = "sleep 100000 & " * PROGRAMS + "wait"


@contextmanager
def apps(count: int) -> Iterator[list[tuple[Target, list[int]]]]:
    """``count`` cgroups with a process tree each: (target, the programs' pids)."""
    hierarchy = cgroups.detect()
    made: list[tuple[cgroups.Cgroup, subprocess.Popen[bytes]]] = []
    prefix = f"bu{secrets.token_hex(2)}"
    try:
        for index in range(count):
            cgroup = hierarchy.cgroup(f"{prefix}-{index}")
            cgroup.create(Limits())
            fds = cgroup.procs_fds()
            parent = subprocess.Popen(
                ["/bin/sh", "-c", TREE],
                preexec_fn=lambda fds=fds: cgroups.join_self(fds),
                start_new_session=True,
            )
            for fd in fds:
                os.close(fd)
            made.append((cgroup, parent))
        result = []
        for index, (cgroup, parent) in enumerate(made):
            deadline = time.monotonic() + 30
            while len(programs := children(parent.pid)) < PROGRAMS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app {index}: its programs did not start")
                time.sleep(0.01)
            result.append((Target(index + 1, 0, cgroup), programs))
        yield result
    finally:
        for cgroup, parent in made:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
            cgroup.remove()


def measure(count: int, rounds: int) -> dict[str, float]:
    server = start_redis()
    redis = server.client()
    try:
        with apps(count) as targets:
            for target, pids in targets:
                processes = [
                    {"group": f"p{i}", "name": f"p{i}", "pid": pid, "statename": "RUNNING"}
                    for i, pid in enumerate(pids)
                ]
                write_app_status(redis, target.app_id, processes, ttl=3600)
            sampler = Sampler(step=10)
            cpu, wall = [], []
            for number in range(rounds + 1):
                started, clock = time.process_time(), time.monotonic()
                # Each round in its own slot, as rounds 10 s apart would be.
                sampler.round(
                    redis, [target for target, _ in targets], now=time.time() + number * 10
                )
                if number:  # the first round also reads each process's NSpid
                    cpu.append(time.process_time() - started)
                    wall.append(time.monotonic() - clock)
        return {"cpu_ms": statistics.median(cpu) * 1000, "wall_ms": statistics.median(wall) * 1000}
    finally:
        redis.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.usage", description=__doc__)
    parser.add_argument("--apps", type=int, nargs="+", default=[10, 100, 250])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.usage makes cgroups: run it as root", file=sys.stderr)
        return 2
    print("| apps | processes | sampler CPU per round | per app | wall per round |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for count in args.apps:
        result = measure(count, args.rounds)
        print(
            f"| {count} | {count * (PROGRAMS + 1)} | {result['cpu_ms']:.1f} ms"
            f" | {result['cpu_ms'] / count * 1000:.0f} µs | {result['wall_ms']:.1f} ms |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
