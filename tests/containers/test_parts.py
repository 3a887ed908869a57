"""The container's parts that need no root: specs, cgroup detection, peer checks, argv."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from workers.container.cgroups import GROUP_DIR, CgroupError, Hierarchy, detect
from workers.container.spec import (
    ContainerSpec,
    Limits,
    SpecError,
    is_key,
    load_spec,
    parse_json,
)
from workers.peer import PeerRefused, expect_runtime

V1_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
"""


def spec(**changes: object) -> ContainerSpec:
    values: dict[str, object] = {
        "app": "shop",
        "key": "t1a2b3c-7",
        "user": "t1a2b3c-7",
        "uid": 1500,
        "gid": 1500,
        "root": "/srv/apps/shop/srv",
        "assets": "/srv/hosting/container/runtime-x",
        "python": "/usr/bin/python3",
    }
    values.update(changes)
    return ContainerSpec(**values)  # type: ignore[arg-type]


def test_v1_controllers_are_found_one_hierarchy_each() -> None:
    hierarchy = detect(V1_MOUNTS)
    assert hierarchy.version == 1
    assert hierarchy.roots == {
        "memory": "/sys/fs/cgroup/memory",
        "pids": "/sys/fs/cgroup/pids",
        "cpu": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
    }
    cgroup = hierarchy.cgroup("t1a2b3c-7")
    assert cgroup.dirs["pids"] == f"/sys/fs/cgroup/pids/{GROUP_DIR}/t1a2b3c-7"


def test_v2_is_used_when_the_unified_hierarchy_has_the_controllers(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    hierarchy = detect(f"cgroup2 {tmp_path} cgroup2 rw 0 0\n")
    assert hierarchy.version == 2
    assert set(hierarchy.roots) == {"memory", "pids", "cpu"}
    assert hierarchy.cgroup("k").dirs["memory"] == f"{tmp_path}/{GROUP_DIR}/k"


def test_no_memory_or_pids_controller_is_an_error_naming_them() -> None:
    with pytest.raises(CgroupError, match="memory and pids controllers"):
        detect("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n")


def test_a_cgroup_key_is_a_checked_name() -> None:
    with pytest.raises(CgroupError, match="not a valid cgroup key"):
        Hierarchy(1, {"pids": "/x"}).cgroup("../../etc")


def test_specs_refuse_root_bad_keys_relative_paths_and_odd_limits() -> None:
    with pytest.raises(SpecError, match="never runs as root"):
        spec(uid=0)
    with pytest.raises(SpecError, match="key"):
        spec(key="../x")
    with pytest.raises(SpecError, match="root"):
        spec(root="srv")
    with pytest.raises(SpecError, match="limits.pids"):
        Limits(pids=3)
    with pytest.raises(SpecError, match="limits.memory_mb"):
        Limits(memory_mb=True)  # type: ignore[arg-type]


def test_a_spec_round_trips_and_only_roots_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(spec().to_json())
    path.chmod(0o600)
    if os.geteuid() == 0:
        assert load_spec(path) == spec()
        os.chown(path, 1500, 1500)
        with pytest.raises(SpecError, match="changed by someone else"):
            load_spec(path)
        os.chown(path, 0, 0)
    path.chmod(0o622)
    with pytest.raises(SpecError, match="changed by someone else"):
        load_spec(path)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(SpecError, match="cannot open"):
        load_spec(link)
    data = json.loads(spec().to_json())
    del data["uid"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    (tmp_path / "bad.json").chmod(0o600)
    if os.geteuid() == 0 or os.stat(tmp_path / "bad.json").st_uid == os.geteuid():
        with pytest.raises(SpecError, match="malformed"):
            load_spec(tmp_path / "bad.json")


@pytest.mark.parametrize(
    "text",
    [
        spec(environment={"GREETING": 'h\u00e9llo "x"\n'}).to_json(),
        ' [1, -2.5e3, "\\u00e9\\n", null, true, false, {"a": {}}] ',
        "12345678901234567890",
        '{"a": [-Infinity, Infinity]}',
    ],
)
def test_the_launchers_json_reads_what_json_reads(text: str) -> None:
    assert parse_json(text) == json.loads(text)


@pytest.mark.parametrize(
    "text", ["", "{", '{"a": 1} x', "nan", '{"a": inf}', '{"a": 1,}', '"\x01"', "[1,]"]
)
def test_the_launchers_json_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        parse_json(text)


def test_keys_are_user_names() -> None:
    assert is_key("t1a2b3c-7") and is_key("_x") and is_key("a" * 32)
    for bad in ("", "a" * 33, "1abc", "-x", "Abc", "a/b", "a b", "é", None, 7):
        assert not is_key(bad), bad


def test_the_environment_is_the_tenants_own_and_nothing_else() -> None:
    env = spec(environment={"TZ": "Europe/Prague"}).base_environment()
    assert env == {
        "PATH": "/opt/hosting/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/srv",
        "USER": "t1a2b3c-7",
        "LOGNAME": "t1a2b3c-7",
        "LANG": "C.UTF-8",
        "TZ": "Europe/Prague",
    }


def test_a_peer_of_another_user_is_refused_before_a_byte_is_sent() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        expect_runtime("shop", os.geteuid(), None)(ours)  # the expected user: accepted
        with pytest.raises(PeerRefused, match="not its runtime's"):
            expect_runtime("shop", os.geteuid() + 1, None)(ours)


def test_the_conf_copy_never_follows_a_link_nor_goes_deeper(tmp_path: Path) -> None:
    from workers.files import copy_conf_files

    conf, secret = tmp_path / "conf", tmp_path / "secret"
    (conf / "supervisor.d" / "deeper").mkdir(parents=True)
    secret.mkdir()
    (secret / "shadow.conf").write_text("root's\n")
    (conf / "supervisord.conf").write_text("[supervisord]\n")
    (conf / "supervisor.d" / "mine.conf").write_text("[program:x]\n")
    (conf / "supervisor.d" / "notes.txt").write_text("not read by the runtime\n")
    (conf / "supervisor.d" / "deeper" / "hidden.conf").write_text("[program:y]\n")
    (conf / "supervisor.d" / "link.conf").symlink_to(secret / "shadow.conf")
    (conf / "elsewhere").symlink_to(secret)
    os.mkfifo(conf / "supervisor.d" / "fifo.conf")  # must not block the copy
    copy = tmp_path / "copy"
    copy.mkdir()
    copy_conf_files(conf, copy, None)
    found = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    assert found == ["supervisor.d/mine.conf", "supervisord.conf"]
