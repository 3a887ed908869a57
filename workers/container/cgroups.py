"""An app's cgroup with its plan's limits: memory (no swap beyond it), tasks and CPU weight.

cgroup v2 where the unified hierarchy has the controllers (current Debian), v1 where the
controllers are mounted one per hierarchy (older hosts, and this project's CI machine).
Every app's cgroup is ``hosting-tenants/<key>`` under each hierarchy's root: the launcher
moves itself there before it becomes the container, so every process of the container,
however it forks, is counted against the app's limits and no other's.

Only root writes here; paths are made from the app's key (a checked user name), never from
anything a tenant wrote. Paths are strings and files are read and written with ``os``: the
launcher imports this module at every container start, and ``pathlib`` (with the ``re``,
``fnmatch`` and ``urllib.parse`` it imports) was a third of that start's CPU.
"""

from __future__ import annotations

import _signal as signal  # the C half: ``signal`` imports ``enum``
import os
import time

from workers.container.spec import Limits, Record, is_key

TYPE_CHECKING = False  # typing's own, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable

GROUP_DIR = "hosting-tenants"  # the containers
CHECKS_DIR = "hosting-checks"  # config checks, with the same limits but apart
REQUIRED = ("memory", "pids")  # a memory hog and a fork bomb must stop at the limit
# cpuacct: the app's CPU time for its graphs (workers.usage), where v1 mounts it apart.
OPTIONAL = ("cpu", "cpuacct")
MIB = 1024 * 1024


class CgroupError(Exception):
    """The cgroup could not be made or used; the message says which file and why."""


class Hierarchy(Record):
    """Where the controllers are: ``version`` 2 with one root, or 1 with a root each."""

    __slots__ = ("version", "roots")
    version: int
    roots: dict[str, str]  # controller -> mount point (v2: every controller -> the root)

    def __init__(self, version: int, roots: dict[str, str]) -> None:
        self._set(version=version, roots=roots)

    def cgroup(self, key: str, group: str = GROUP_DIR) -> Cgroup:
        """The cgroup of app ``key`` under ``group`` (GROUP_DIR: its container's)."""
        if not is_key(key):
            raise CgroupError(f"{key!r} is not a valid cgroup key")
        dirs = {name: f"{root}/{group}/{key}" for name, root in self.roots.items()}
        return Cgroup(self, key, dirs, group)


def detect(mounts: str | None = None) -> Hierarchy:
    """The hierarchy to use, from /proc/self/mounts; CgroupError naming what is missing."""
    if mounts is None:
        mounts = _read("/proc/self/mounts")
    v1: dict[str, str] = {}
    v2_roots: list[str] = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point, kind, options = fields[1], fields[2], fields[3].split(",")
        if kind == "cgroup2":
            v2_roots.append(point)
        elif kind == "cgroup":
            for name in (*REQUIRED, *OPTIONAL):
                if name in options:
                    v1.setdefault(name, point)
    for root in v2_roots:
        try:
            available = _read(f"{root}/cgroup.controllers").split()
        except OSError:
            continue
        if all(name in available for name in REQUIRED):
            names = [n for n in (*REQUIRED, *OPTIONAL) if n in available]
            return Hierarchy(2, {name: root for name in names})
    missing = [name for name in REQUIRED if name not in v1]
    if missing:
        raise CgroupError(
            "no cgroup hierarchy offers the "
            + " and ".join(missing)
            + " controller"
            + ("s" if len(missing) > 1 else "")
            + " (see /proc/self/mounts)"
        )
    return Hierarchy(1, v1)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as file:
            file.write(value)
    except OSError as exc:
        raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}") from None


class Cgroup:
    """One app's cgroup: a directory per v1 controller, or the same v2 directory for all."""

    def __init__(
        self, hierarchy: Hierarchy, key: str, dirs: dict[str, str], group: str = GROUP_DIR
    ) -> None:
        self.hierarchy = hierarchy
        self.key = key
        self.dirs = dirs
        self.group = group

    def paths(self) -> list[str]:
        """Its directories: one per v1 hierarchy, the one v2 directory."""
        return list(dict.fromkeys(self.dirs.values()))

    def create(self, limits: Limits) -> None:
        """Make the cgroup (idempotent) and set its limits."""
        if self.hierarchy.version == 2:
            self._create_v2(limits)
        else:
            self._create_v1(limits)

    def _create_v1(self, limits: Limits) -> None:
        for directory in self.paths():
            os.makedirs(directory, exist_ok=True)
        memory = self.dirs["memory"]
        limit = str(limits.memory_mb * MIB)
        swap = f"{memory}/memory.memsw.limit_in_bytes"
        if os.path.exists(swap):
            # memsw may never be below the memory limit: lift it, set memory, then pin it.
            _write(swap, "-1")
            _write(f"{memory}/memory.limit_in_bytes", limit)
            _write(swap, limit)
        else:
            _write(f"{memory}/memory.limit_in_bytes", limit)
        _write(f"{self.dirs['pids']}/pids.max", str(limits.pids))
        if "cpu" in self.dirs:
            shares = max(2, limits.cpu_weight * 1024 // 100)
            _write(f"{self.dirs['cpu']}/cpu.shares", str(shares))

    def _create_v2(self, limits: Limits) -> None:
        root = next(iter(self.hierarchy.roots.values()))
        group = f"{root}/{self.group}"
        os.makedirs(group, exist_ok=True)
        for parent in (root, group):
            for name in self.dirs:  # one at a time: an optional one may be refused
                try:
                    _write(f"{parent}/cgroup.subtree_control", f"+{name}")
                except CgroupError:
                    if name in REQUIRED:
                        raise
        directory = f"{group}/{self.key}"
        os.makedirs(directory, exist_ok=True)
        _write(f"{directory}/memory.max", str(limits.memory_mb * MIB))
        if os.path.exists(f"{directory}/memory.swap.max"):
            _write(f"{directory}/memory.swap.max", "0")
        _write(f"{directory}/pids.max", str(limits.pids))
        if "cpu" in self.dirs and os.path.exists(f"{directory}/cpu.weight"):
            _write(f"{directory}/cpu.weight", str(limits.cpu_weight))

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup (every controller)."""
        for directory in self.paths():
            _write(f"{directory}/cgroup.procs", str(pid))

    def procs_fds(self) -> list[int]:
        """Open ``cgroup.procs`` of each directory, for ``join_self`` in a child about to
        exec (it can then join without touching a path)."""
        return [os.open(f"{directory}/cgroup.procs", os.O_WRONLY) for directory in self.paths()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.paths():
            try:
                text = _read(f"{directory}/cgroup.procs")
            except FileNotFoundError:
                continue
            found.update(int(word) for word in text.split())
        return found

    def contains(self, pid: int) -> bool:
        """Whether ``pid`` is in this cgroup, by the kernel's own account of it."""
        try:
            lines = _read(f"/proc/{pid}/cgroup").splitlines()
        except OSError:
            return False
        suffix = f"/{self.group}/{self.key}"
        for line in lines:
            _id, controllers, path = line.split(":", 2)
            names = controllers.split(",") if controllers else []
            if self.hierarchy.version == 2 and not names and path == suffix:
                return True
            if self.hierarchy.version == 1 and "pids" in names and path.endswith(suffix):
                return True
        return False

    def kill_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the cgroup and wait until it is empty: what a container
        left behind must never run beside the next one."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            if not left:
                return
            _kill(left)
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {sorted(left)} of {self.key} would not die")
            time.sleep(0.02)

    def remove(self) -> None:
        """Remove the (empty) cgroup directories; missing ones are fine."""
        self.kill_all()
        for directory in self.paths():
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise CgroupError(f"cannot remove {directory}: {exc.strerror}") from None

    def memory_usage(self) -> int | None:
        """Bytes charged to the cgroup now, or None when unknown."""
        name = "memory.current" if self.hierarchy.version == 2 else "memory.usage_in_bytes"
        try:
            return int(_read(f"{self.dirs['memory']}/{name}"))
        except (OSError, ValueError):
            return None


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def join_self(procs_fds: list[int]) -> None:
    """Move the calling process into the cgroup of ``procs_fds`` (``Cgroup.procs_fds``):
    "0" means the writer itself. Safe between fork and exec."""
    for fd in procs_fds:
        os.write(fd, b"0")


def remove_app(key: str) -> None:
    """Every cgroup of app ``key`` (its container's and its config checks'), emptied."""
    hierarchy = detect()
    for group in (GROUP_DIR, CHECKS_DIR):
        hierarchy.cgroup(key, group).remove()
