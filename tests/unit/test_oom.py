"""Where the OOM kill count of our memory cgroup is read (oom.py), from /proc texts."""

from __future__ import annotations

from pathlib import Path

from supervisor_runtime.oom import cgroup_files, find_source, read_counter

V1_CGROUP = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n"
V1_MOUNTS = (
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)
V2_CGROUP = "0::/system.slice/app.service\n"
V2_MOUNTS = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
# Inside a container whose cgroup namespace root is the app's cgroup.
V2_NS_MOUNTS = "30 23 0:26 /tenants/app /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"


def test_v2_memory_events_first_then_v1_oom_control() -> None:
    assert cgroup_files(V2_CGROUP, V2_MOUNTS) == [
        "/sys/fs/cgroup/system.slice/app.service/memory.events"
    ]
    assert cgroup_files(V1_CGROUP, V1_MOUNTS) == [
        "/sys/fs/cgroup/unified/memory.events",
        "/sys/fs/cgroup/memory/process_api/abc/memory.oom_control",
    ]


def test_a_mount_of_a_subtree_maps_the_path_below_its_root() -> None:
    assert cgroup_files("0::/tenants/app/run\n", V2_NS_MOUNTS) == [
        "/sys/fs/cgroup/run/memory.events"
    ]
    assert cgroup_files("0::/elsewhere\n", V2_NS_MOUNTS) == []


def test_read_counter(tmp_path: Path) -> None:
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n")
    assert read_counter(str(events)) == 2
    events.write_text("oom_kill_disable 0\nunder_oom 0\n")
    assert read_counter(str(events)) is None
    assert read_counter(str(tmp_path / "missing")) is None


def test_this_machine_gives_a_source() -> None:
    source = find_source()
    assert source is not None, "neither a memory cgroup nor /proc/vmstat has oom_kill"
    assert read_counter(source.path) is not None
