"""Did the kernel's OOM killer end a child? The count of OOM kills where our children run.

A child killed by the OOM killer dies of SIGKILL, like one killed by ``kill -9``; what
tells them apart is the kernel's own count of OOM kills, read when the child starts and
again when it dies. The most precise count is its memory cgroup's (the children start in
the daemon's cgroup): ``oom_kill`` in ``memory.events`` (cgroup v2, which counts the
cgroups below too) or in ``memory.oom_control`` (v1, where the memory controller has one).
Without either (no memory controller, or a view that hides /sys/fs/cgroup) the count of the
whole machine, ``oom_kill`` in /proc/vmstat (Linux 4.13 and later), which another
process's OOM kill can raise too: such a verdict says "probably".

Every path here is the kernel's (procfs, cgroupfs), read-only; none can be changed by a
tenant.
"""

from __future__ import annotations

import os

from supervisor_runtime.static_types import NamedTuple

VMSTAT = "/proc/vmstat"


class OomSource(NamedTuple):
    path: str  # the file holding the counter
    scope: str  # "cgroup" (this memory cgroup) or "system" (the whole machine)


def _read_text(path: str) -> str | None:
    # os.open/os.read rather than open(): this runs at every start of every process
    # (when history is on), and the text layer costs three times the read itself.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def read_counter(path: str) -> int | None:
    """The ``oom_kill`` value of a ``key value`` file, None when it has none."""
    text = _read_text(path)
    if text is None:
        return None
    start = text.find("oom_kill ")
    while start > 0 and text[start - 1] != "\n":  # "oom_kill" must begin a line
        start = text.find("oom_kill ", start + 1)
    if start < 0:
        return None
    try:
        return int(text[start + len("oom_kill ") :].split("\n", 1)[0])
    except ValueError:
        return None


def _mounts(mountinfo: str) -> list[tuple[str, str, str, list[str]]]:
    """(fs type, root inside the fs, mount point, super options) of each cgroup mount."""
    found = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] in ("cgroup", "cgroup2"):
            found.append((tail[0], fields[3], fields[4], tail[2].split(",")))
    return found


def _inside(mount_root: str, mount_point: str, cgroup_path: str) -> str | None:
    """Where ``cgroup_path`` (as /proc/self/cgroup says) is under this mount, if it is."""
    if mount_root == "/":
        return os.path.join(mount_point, cgroup_path.lstrip("/"))
    if cgroup_path == mount_root or cgroup_path.startswith(mount_root.rstrip("/") + "/"):
        return os.path.join(mount_point, cgroup_path[len(mount_root) :].lstrip("/"))
    return None


def cgroup_files(cgroup: str, mountinfo: str) -> list[str]:
    """The files that may hold our memory cgroup's OOM kill count, best first."""
    v2_path, v1_path = None, None
    for line in cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            v2_path = path
        elif "memory" in controllers.split(","):
            v1_path = path
    files = []
    for kind, root, point, options in _mounts(mountinfo):
        if kind == "cgroup2" and v2_path is not None:
            directory = _inside(root, point, v2_path)
            if directory is not None:
                files.insert(0, os.path.join(directory, "memory.events"))
        elif kind == "cgroup" and v1_path is not None and "memory" in options:
            directory = _inside(root, point, v1_path)
            if directory is not None:
                files.append(os.path.join(directory, "memory.oom_control"))
    return files


def find_source() -> OomSource | None:
    """Where to read the OOM kill count for our children; None when the kernel gives none."""
    cgroup = _read_text("/proc/self/cgroup") or ""
    mountinfo = _read_text("/proc/self/mountinfo") or ""
    for path in cgroup_files(cgroup, mountinfo):
        if read_counter(path) is not None:
            return OomSource(path, "cgroup")
    if read_counter(VMSTAT) is not None:
        return OomSource(VMSTAT, "system")
    return None
