"""The container launcher as the host runtime runs it (``tenant_program_text``'s command,
a real child process): what it refuses, what it imports, and its parts that replaced
standard-library helpers (argument parsing, ``ip`` without subprocess, finding tools)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from workers.container import binaries, netns
from workers.container.binaries import LaunchError, tool
from workers.container.spec import ContainerSpec, Limits
from workers.tenants import from_source

LAUNCHER = shlex.split(from_source(sys.executable, "workers.container.launch", "-S"))
# What the launcher no longer imports: each was paid at every container start (json, re,
# pathlib, enum and the rest: half of the launcher's CPU, issue 18).
HEAVY = {"argparse", "dataclasses", "inspect", "subprocess", "shutil", "typing", "site"} | {
    "json",
    "re",
    "pathlib",
    "enum",
    "signal",
    "contextlib",
    "collections",
    "functools",
    "urllib",
}


def launch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAUNCHER, *args], capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )


def a_spec() -> ContainerSpec:
    return ContainerSpec(
        app="shop",
        key="t1a2b3c-7",
        user="t1a2b3c-7",
        uid=1500,
        gid=1500,
        root="/srv/apps/shop/srv",
        assets="/srv/hosting/container/runtime-x",
        python="/usr/bin/python3",
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "one container spec"),
        (("a.json", "b.json"), "one container spec"),
        (("--bogus", "a.json"), "unrecognized arguments: --bogus"),
        (("a.json", "--digest"), "--digest: expected one argument"),
    ],
)
def test_bad_arguments_are_refused_with_the_usage(args: tuple[str, ...], words: str) -> None:
    done = launch(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m workers.container.launch")
    assert words in done.stderr


def test_help_and_a_digest_anywhere() -> None:
    assert launch("-h").returncode == 0 and "usage:" in launch("--help").stdout
    for args in (("--digest", "abc", "/nonexistent.json"), ("/nonexistent.json", "--digest=abc")):
        done = launch(*args)
        assert done.returncode == 1
        assert "cannot open the container spec /nonexistent.json" in done.stderr


def test_a_spec_anyone_else_could_change_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(a_spec().to_json())
    path.chmod(0o622)
    done = launch(str(path), "--digest", "x")
    assert done.returncode == 1
    assert "could have been changed by someone else; refusing it" in done.stderr


def test_the_launcher_runs_without_site_and_imports_little() -> None:
    # The host runtime's very command, ending with a listing of what it imported instead
    # of the launch itself.
    python, *flags, code = LAUNCHER
    assert flags == ["-I", "-S", "-c"]
    listing = code.replace("sys.exit(main())", "print(' '.join(sorted(sys.modules)))")
    assert listing != code
    done = subprocess.run(
        [python, *flags, listing], capture_output=True, text=True, check=True, cwd="/"
    )
    assert "workers.container.launch" in done.stdout.split()
    assert HEAVY.isdisjoint(done.stdout.split()), HEAVY & set(done.stdout.split())


def test_a_spec_is_a_read_only_record_that_compares_by_value() -> None:
    spec = a_spec()
    assert spec == a_spec() and spec != ContainerSpec(**{**spec.as_dict(), "uid": 1501})  # type: ignore[arg-type]
    assert Limits(pids=64) == Limits(pids=64) != Limits()
    with pytest.raises(AttributeError, match="read-only"):
        spec.uid = 0  # type: ignore[misc]
    assert "uid=1500" in repr(spec) and "Limits(memory_mb=1024" in repr(spec)
    copied = spec.as_dict()
    copied["environment"]["X"] = "1"  # type: ignore[index]
    assert spec.environment == {}


def test_tools_are_found_on_roots_path_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert tool("ip") in {"/usr/bin/ip", "/bin/ip", "/usr/sbin/ip", "/sbin/ip"}
    (tmp_path / "bwrap").mkdir()  # a directory is no tool
    monkeypatch.setattr(binaries, "TOOL_PATH", str(tmp_path))
    with pytest.raises(LaunchError, match=r"apt-get install bubblewrap"):
        tool("bwrap")


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_a_namespace_is_made_once_then_reused_with_its_loopback_up() -> None:
    name = f"hosting-test-{os.getpid()}"
    try:
        path = Path(netns.ensure(name))
        inode = path.stat().st_ino
        assert netns.ensure(name) == str(path) and path.stat().st_ino == inode  # the same one
        show = subprocess.run(
            ["ip", "-n", name, "link", "show", "lo"], capture_output=True, text=True, check=True
        )
        assert "UP" in show.stdout.split(">")[0]
    finally:
        netns.remove(name)
    assert not path.exists()
    with pytest.raises(netns.NetnsError, match=f"ip netns delete {name}: .+"):
        netns._ip("netns", "delete", name)  # ip's own words, through posix_spawn
