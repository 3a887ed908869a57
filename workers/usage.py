"""The usage sampler of a host: ``python -m workers.usage --host-root DIR``.

Run by the host runtime (``usage-<queue>``). Every ``usage_interval`` seconds (10 by default,
on the multiples of it) it measures the CPU and memory of every app of the host, and of each
of its programs, stores them with ``hosting.usage`` and publishes a ``usage`` event per app
(``hosting.live_events``), all in one Redis pipeline.

- The app: with containers, its cgroup (``workers.container.cgroups``): CPU from
  ``cpu.stat`` ``usage_usec`` (v2) or ``cpuacct.usage`` (v1; where cpuacct is not in the
  app's cgroup, the sum of its processes' CPU time), memory as the working set: the bytes
  charged to it (``memory.current`` / ``memory.usage_in_bytes``) less the inactive page
  cache (``inactive_file`` / ``total_inactive_file`` of ``memory.stat``), the cache the
  kernel drops first. Without containers: the sum of its programs' processes.
- Each program (``group:name``, its pid from the app's status in Redis) with all its
  descendants: user + system CPU time and resident memory from ``/proc/<pid>/stat``. Inside a
  container the status's pids are the container's (its PID namespace): they are matched to
  the host's by ``NSpid`` of ``/proc/<pid>/status``, read once per process. A pid can be
  reused: only processes in the app's cgroup (read from the cgroup, which only root
  changes) or, without containers, owned by the app's user are counted.

CPU is in percent of one core over the time since the previous round; an app's first
round has none. Only kernel files are read (``/proc``, the cgroup tree), never a path a
tenant can change.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hosting.live_events import publish_app_event
from hosting.status import read_app_statuses
from hosting.usage import Bucket, Sample, bucket_start, write_samples

from workers.container import cgroups
from workers.layout import find_owners
from workers.rounds import start_helper
from workers.status import host_apps
from workers.tenants import host_hierarchy

log = logging.getLogger("workers.usage")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

ProcKey = tuple[int, int]  # (pid, start time in ticks since boot): one process, never reused


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    start: int
    ticks: int  # user + system CPU time
    rss: int  # bytes

    @property
    def key(self) -> ProcKey:
        return (self.pid, self.start)


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/<pid>/stat``, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            text = file.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold anything: split after it.
    fields = text[text.rindex(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        start=int(fields[19]),
        ticks=int(fields[11]) + int(fields[12]),
        rss=int(fields[21]) * PAGE,
    )


def namespace_pid(pid: int) -> int | None:
    """The pid of ``pid`` in the PID namespace it was made in (the last of ``NSpid``), None
    when it is gone or lives in the host's namespace (the container's launcher and bwrap's
    outer process: their host pids must never pass for a program's)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as file:
            for line in file:
                if line.startswith(b"NSpid:"):
                    pids = line.split()[1:]
                    return int(pids[-1]) if len(pids) > 1 else None
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The children of ``pid`` (every thread's), from ``/proc/<pid>/task/*/children``."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as file:
                found.extend(int(word) for word in file.read().split())
        except OSError:
            continue
    return found


def owned_by(pid: int, uid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == uid
    except OSError:
        return False


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def _stat_field(path: str, name: bytes) -> int | None:
    """The value of ``name`` in a flat-keyed cgroup file (``cpu.stat``, ``memory.stat``)."""
    text = _read(path)
    if text is None:
        return None
    # Found, not split: memory.stat has some 40 lines, read for every app every round.
    text, key = b"\n" + text, b"\n" + name + b" "
    at = text.find(key)
    if at < 0:
        return None
    end = text.find(b"\n", at + len(key))
    return int(text[at + len(key) : end if end >= 0 else None])


def cgroup_pids(cgroup: cgroups.Cgroup) -> list[int]:
    """The processes of the app's cgroup: its ``cgroup.procs`` in the pids hierarchy (every
    process of the container is there, on v1 as on v2), one read."""
    text = _read(f"{cgroup.dirs['pids']}/cgroup.procs")
    return [] if text is None else [int(word) for word in text.split()]


def cgroup_cpu_seconds(cgroup: cgroups.Cgroup) -> float | None:
    """CPU time the app's cgroup used so far, or None where the hierarchy does not tell."""
    if cgroup.hierarchy.version == 2:
        usec = _stat_field(f"{cgroup.dirs['memory']}/cpu.stat", b"usage_usec")
        return None if usec is None else usec / 1e6
    directory = cgroup.dirs.get("cpuacct")
    text = None if directory is None else _read(f"{directory}/cpuacct.usage")
    return None if not text else int(text) / 1e9


def cgroup_working_set(cgroup: cgroups.Cgroup) -> int | None:
    """The app's memory less the inactive page cache (what ``kubectl top`` calls the
    working set), or None when the cgroup is gone. (``Cgroup.memory_usage`` reads the
    same first file.)"""
    v2 = cgroup.hierarchy.version == 2
    directory = cgroup.dirs["memory"]
    charged = _read(f"{directory}/{'memory.current' if v2 else 'memory.usage_in_bytes'}")
    if not charged:
        return None
    inactive = _stat_field(
        f"{directory}/memory.stat", b"inactive_file" if v2 else b"total_inactive_file"
    )
    return max(0, int(charged) - (inactive or 0))


@dataclass(frozen=True)
class Target:
    """An app to sample: its id, and how its processes are found and checked."""

    app_id: int
    uid: int
    cgroup: cgroups.Cgroup | None  # None: no container, its processes are its user's


@dataclass
class Sampler:
    """What a round needs from the previous one: CPU times, to turn them into rates."""

    step: int
    ticks: dict[ProcKey, int] = field(default_factory=dict)
    app_cpu: dict[int, float] = field(default_factory=dict)  # cgroup CPU seconds per app
    seen: set[int] = field(default_factory=set)  # apps sampled in the previous round
    namespace_pids: dict[ProcKey, int | None] = field(default_factory=dict)
    buckets: dict[int, Bucket] = field(default_factory=dict)
    last: float | None = None  # monotonic time of the previous round

    def round(self, redis: Any, targets: Iterable[Target], now: float | None = None) -> int:
        """Sample every target, store the samples and publish ``usage`` events; returns
        how many apps were sampled."""
        wall = time.time() if now is None else now
        t = int(wall // self.step * self.step)  # rounds start just after a multiple
        clock = time.monotonic()
        elapsed = None if self.last is None else clock - self.last
        ticks: dict[ProcKey, int] = {}
        namespace_pids: dict[ProcKey, int | None] = {}
        app_cpu: dict[int, float] = {}
        samples: dict[int, tuple[Sample, Sample]] = {}
        targets = list(targets)
        statuses = read_app_statuses(redis, [target.app_id for target in targets])
        for target in targets:
            status = statuses[target.app_id] or {}
            programs = {
                f"{p.get('group')}:{p.get('name')}": int(p.get("pid") or 0)
                for p in status.get("processes", [])
            }
            rate = elapsed if target.app_id in self.seen else None
            sample = self._sample(target, programs, t, rate, ticks, namespace_pids, app_cpu)
            bucket = self._bucket(target.app_id, t)
            bucket.add(sample)
            samples[target.app_id] = (sample, bucket.sample())
        self.ticks, self.namespace_pids, self.app_cpu = ticks, namespace_pids, app_cpu
        self.seen, self.last = set(samples), clock
        for app_id in set(self.buckets) - self.seen:
            del self.buckets[app_id]
        if samples:
            write_samples(redis, samples, self.step)
            pipe = redis.pipeline(transaction=False)
            for app_id in samples:
                publish_app_event(pipe, app_id, "usage")
            pipe.execute()
        return len(samples)

    def _bucket(self, app_id: int, t: int) -> Bucket:
        start = bucket_start(t)
        bucket = self.buckets.get(app_id)
        if bucket is None or bucket.start != start:
            bucket = self.buckets[app_id] = Bucket(start)
        return bucket

    def _sample(
        self,
        target: Target,
        programs: dict[str, int],
        t: int,
        elapsed: float | None,
        ticks: dict[ProcKey, int],
        namespace_pids: dict[ProcKey, int],
        app_cpu: dict[int, float],
    ) -> Sample:
        if target.cgroup is not None:
            procs = {
                pid: s for pid in cgroup_pids(target.cgroup) if (s := read_stat(pid)) is not None
            }
            roots = self._in_container(procs, programs, namespace_pids)
        else:
            procs, roots = _in_tree(target.uid, programs)
        tree: dict[int, list[int]] = {}
        for stat in procs.values():
            tree.setdefault(stat.ppid, []).append(stat.pid)
        for stat in procs.values():
            ticks[stat.key] = stat.ticks

        def cpu_of(pids: Iterable[int]) -> float | None:
            if elapsed is None or elapsed <= 0:
                return None
            used = sum(procs[p].ticks - self.ticks.get(procs[p].key, 0) for p in pids)
            return max(0.0, used / TICKS / elapsed * 100)

        processes: dict[str, list[float | None]] = {}
        for name in programs:
            root = roots.get(name)
            if root is None:
                processes[name] = [None, None]
                continue
            members = _subtree(root, tree)
            processes[name] = [cpu_of(members), float(sum(procs[p].rss for p in members))]
        if target.cgroup is None:
            app: list[float | None] = [cpu_of(procs), float(sum(s.rss for s in procs.values()))]
        else:
            app = [self._cgroup_cpu(target, elapsed, app_cpu), None]
            if app[0] is None:  # no CPU counter in this hierarchy: its processes' sum
                app[0] = cpu_of(procs)
            memory = cgroup_working_set(target.cgroup)
            app[1] = None if memory is None else float(memory)
        return Sample(t, app, processes)

    def _cgroup_cpu(
        self, target: Target, elapsed: float | None, app_cpu: dict[int, float]
    ) -> float | None:
        assert target.cgroup is not None
        used = cgroup_cpu_seconds(target.cgroup)
        if used is None:
            return None
        app_cpu[target.app_id] = used
        before = self.app_cpu.get(target.app_id)
        if elapsed is None or elapsed <= 0 or before is None:
            return None
        return max(0.0, (used - before) / elapsed * 100)

    def _in_container(
        self,
        procs: dict[int, ProcStat],
        programs: dict[str, int],
        namespace_pids: dict[ProcKey, int | None],
    ) -> dict[str, int]:
        """The host pid of each program (its status gives the container's pid)."""
        by_inner: dict[int, int] = {}
        for stat in procs.values():
            if stat.key in self.namespace_pids:
                inner = self.namespace_pids[stat.key]
            else:
                inner = namespace_pid(stat.pid)
            namespace_pids[stat.key] = inner  # None too: read once per process
            if inner is not None:
                by_inner.setdefault(inner, stat.pid)
        return {name: by_inner[pid] for name, pid in programs.items() if pid in by_inner}


def _in_tree(uid: int, programs: dict[str, int]) -> tuple[dict[int, ProcStat], dict[str, int]]:
    """Without a container: each program still owned by the app's user, and its
    descendants (a child another user runs, e.g. through a setuid program, is left out)."""
    procs: dict[int, ProcStat] = {}
    roots: dict[str, int] = {}
    for name, pid in programs.items():
        if pid <= 0 or not owned_by(pid, uid):
            continue
        roots[name] = pid
        todo = [pid]
        while todo:
            current = todo.pop()
            if current in procs:
                continue
            stat = read_stat(current)
            if stat is None or not owned_by(current, uid):
                continue
            procs[current] = stat
            todo.extend(children(current))
    # A program's own stat may have gone between the check and the read.
    return procs, {name: pid for name, pid in roots.items() if pid in procs}


def _subtree(root: int, tree: dict[int, list[int]]) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, ()))
    return found


def host_targets(host: Any, sessions: Any) -> list[Target]:
    """The apps of this host that have a system user (the others run nothing yet)."""
    hierarchy = host_hierarchy() if host.containers else None
    apps = host_apps(sessions, host)
    owners = find_owners(app.user for app in apps)
    targets = []
    for app in apps:
        owner = owners.get(app.user)
        if owner is None:
            continue
        cgroup = hierarchy.cgroup(app.user) if hierarchy is not None else None
        targets.append(Target(app.id, owner.uid, cgroup))
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    helper = start_helper(argv, "python -m workers.usage", __doc__)
    step = helper.host.usage_interval
    sampler = Sampler(step)
    while True:
        started = time.monotonic()
        try:
            count = sampler.round(helper.redis, host_targets(helper.host, helper.sessions))
            log.debug("%d apps sampled in %.3f s", count, time.monotonic() - started)
        except Exception:
            log.exception("round failed")
        if helper.once:
            return 0
        # On the multiples of the step, so every round lands in its own slot of the series.
        time.sleep(step - time.time() % step)


if __name__ == "__main__":
    sys.exit(main())
