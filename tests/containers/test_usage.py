"""The usage sampler (workers.usage) against a real tenant container: its cgroup, its runtime
(PID 1 of its own PID namespace) and real busy programs, with a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from hosting.live_events import app_channel
from hosting.status import write_app_status
from hosting.usage import read_series

from tests.containers.fixtures import Tenants, program, wait_until
from tests.web.redis_server import start_redis
from workers.container import cgroups
from workers.runtime import Runtime
from workers.usage import TICKS, Sampler, Target, children, namespace_pid, read_stat

pytestmark = pytest.mark.timeout(180)
MIB = 1024 * 1024
SPIN = "python3 -c 'while True: pass'"
HOLD = "python3 -c 'import time; b = b\"x\" * (50 << 20); time.sleep(3600)'"
# A program whose memory is in its child: the child counts as the program's.
PARENT = (
    'python3 -c \'import subprocess, sys; subprocess.run([sys.executable, "-c",'
    ' "import time; b = b\\"y\\" * (30 << 20); time.sleep(3600)"])\''
)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    server = start_redis()
    try:
        yield server.client()
    finally:
        server.stop()


def test_cpu_and_memory_of_a_container_app_and_its_programs(
    tenants: Tenants, redis_client: redis.Redis
) -> None:
    box = tenants.make(
        programs={
            "spin": program("spin", SPIN),
            "hold": program("hold", HOLD),
            "parent": program("parent", PARENT),
        }
    )
    box.start()
    runtime = Runtime(f"unix://{box.root}/run/supervisor.sock")

    def running() -> list[dict]:
        processes = runtime.processes()
        return processes if all(p["statename"] == "RUNNING" for p in processes) else []

    processes = wait_until(running, 30, "every program RUNNING")
    # The status as the status poller stores it: the container's own pids.
    write_app_status(redis_client, 7, processes)
    # Plus a program whose pid is not in the app's cgroup (a stale or reused pid).
    write_app_status(
        redis_client, 7, [*processes, {"group": "gone", "name": "gone", "pid": 4000000}]
    )
    target = Target(7, box.spec.uid, cgroups.detect().cgroup(box.spec.key))
    sampler = Sampler(step=10)
    subscriber = redis_client.pubsub()
    subscriber.subscribe(app_channel(7))
    # Two rounds in two slots in a row, however long the CPU takes to be spent in between.
    first = time.time()
    assert sampler.round(redis_client, [target], now=first) == 1

    # bwrap's outer process (the launcher became it) is in the cgroup but in the host's PID
    # namespace: its host pid never passes for a program's pid inside.
    assert box.launcher.pid in cgroups.detect().cgroup(box.spec.key).pids()
    assert namespace_pid(box.launcher.pid) is None
    inner = next(p["pid"] for p in processes if p["name"] == "spin")
    spinner = next(pid for pid in target.cgroup.pids() if namespace_pid(pid) == inner)
    before, run_before, wait_before = read_stat(spinner).ticks, *_schedstat(spinner)
    clock = time.monotonic()
    # Let the spinner use a second of CPU: the next round measures over that time.
    wait_until(lambda: read_stat(spinner).ticks - before >= TICKS, 60, "a second of CPU")
    run_after, wait_after = _schedstat(spinner)
    run, wait = run_after - run_before, wait_after - wait_before
    elapsed = time.monotonic() - clock
    started = time.process_time()
    assert sampler.round(redis_client, [target], now=first + 10) == 1
    print(f"one round of one app: {(time.process_time() - started) * 1000:.2f} ms of CPU")

    series = read_series(redis_client, 7, "hour", now=first + 10)
    latest = {name: values["cpu"][-1] for name, values in series["processes"].items()}
    memory = {name: values["memory"][-1] for name, values in series["processes"].items()}
    print("cpu %", latest, "app", series["app"]["cpu"][-1])
    print(f"scheduler: on a core {run / elapsed * 100:.1f} %, waiting {wait / elapsed * 100:.1f} %")
    print("memory MiB", {k: v and round(v / MIB, 1) for k, v in memory.items()})
    # A spinner wants a whole core: on it or waiting for it nearly all the time (the kernel's
    # scheduler statistics, another counter than the sampler's). On this shared machine it
    # gets less: the sampler reports what it got, as the scheduler saw it.
    assert (run + wait) / elapsed > 0.9
    assert abs(latest["spin:spin"] - run / elapsed * 100) < 10
    assert 1 < latest["spin:spin"] <= 105
    assert latest["hold:hold"] < 10
    assert series["app"]["cpu"][-1] >= latest["spin:spin"] - 5
    # 50 MiB held; the parent's child holds 30 MiB and counts as the parent's.
    assert 50 * MIB <= memory["hold:hold"] < 70 * MIB
    assert 30 * MIB <= memory["parent:parent"] < 60 * MIB
    assert series["app"]["memory"][-1] >= 80 * MIB
    # The stale pid is not counted: no measure rather than another process's.
    assert series["processes"]["gone:gone"] == {"cpu": [None] * 360, "memory": [None] * 360}
    # The first round has memory but no CPU rate yet; the day series has the average.
    assert series["app"]["cpu"][-2] is None and series["app"]["memory"][-2] is not None
    day = read_series(redis_client, 7, "day", now=first + 10)
    # The day keeps the rounds' average and their maximum. The first round may come before
    # a program has touched all it holds (the parent's child starts after it is RUNNING).
    rounds = series["app"]["memory"][-2:]
    assert day["app"]["memory_max"][-1] == pytest.approx(max(rounds))
    assert min(rounds) <= day["app"]["memory"][-1] <= max(rounds)
    # Each round told the app's channel.
    kinds = []
    while (message := subscriber.get_message(timeout=1)) is not None:
        if message["type"] == "message":
            kinds.append(message["data"])
    assert len(kinds) == 2 and all(b'"usage"' in kind for kind in kinds)


def _schedstat(pid: int) -> tuple[float, float]:
    """Nanoseconds ``pid`` ran on a core and waited for one (``/proc/<pid>/schedstat``)."""
    with open(f"/proc/{pid}/schedstat") as file:
        run, wait, _slices = file.read().split()
    return int(run) / 1e9, int(wait) / 1e9


def test_without_a_container_the_apps_user_processes_count(redis_client: redis.Redis) -> None:
    """No cgroup: each program and its descendants, still its user's; the app is their sum.
    A status naming another user's process (a pid reused since) measures nothing."""
    me = os.getuid()
    tree = subprocess.Popen(["/bin/sh", "-c", f"{HOLD} & wait"], start_new_session=True)
    spin = subprocess.Popen(["/bin/sh", "-c", f"exec {SPIN}"], start_new_session=True)
    other_user = {"user": 65534} if me == 0 else {}
    other = subprocess.Popen(["sleep", "600"], **other_user)  # type: ignore[call-overload]
    try:
        wait_until(lambda: children(tree.pid), 30, "the held memory's process")
        processes = [
            {"group": "tree", "name": "tree", "pid": tree.pid},
            {"group": "spin", "name": "spin", "pid": spin.pid},
            {"group": "other", "name": "other", "pid": other.pid},
        ]
        write_app_status(redis_client, 8, processes)
        sampler = Sampler(step=10)
        target = Target(8, me, None)
        first = time.time()
        sampler.round(redis_client, [target], now=first)
        before, (run_before, _) = read_stat(spin.pid).ticks, _schedstat(spin.pid)
        clock = time.monotonic()
        wait_until(lambda: read_stat(spin.pid).ticks - before >= TICKS / 2, 60, "CPU spent")
        run = _schedstat(spin.pid)[0] - run_before
        elapsed = time.monotonic() - clock
        sampler.round(redis_client, [target], now=first + 10)
        series = read_series(redis_client, 8, "hour", now=first + 10)
        last = {name: (s["cpu"][-1], s["memory"][-1]) for name, s in series["processes"].items()}
        assert abs(last["spin:spin"][0] - run / elapsed * 100) < 10
        # The child that holds 50 MiB is the tree's (its shell's).
        assert 50 * MIB <= last["tree:tree"][1] < 80 * MIB
        if me == 0:
            assert last["other:other"] == (None, None)
        app_memory = series["app"]["memory"][-1]
        assert app_memory == sum(memory for _cpu, memory in last.values() if memory)
        assert series["app"]["cpu"][-1] >= last["spin:spin"][0]
    finally:
        for process in (tree, spin, other):
            if process in (tree, spin):
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.wait()
