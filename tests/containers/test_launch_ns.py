"""The launch mount namespace (``workers.container.launch_ns``) and the network namespaces'
loopback set up once (``netns.ensure``): real namespaces, real mounts, real containers.

Why they exist: bwrap reads the mount table once per bind, and each app's network namespace
is a mount on the host; at 1,000 apps bwrap took 56 ms of CPU instead of 8."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.fixtures import Tenants, needs_containers, program, wait_until
from workers.container import binaries, launch_ns, netns
from workers.container.view import _system_args

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="mount and network namespaces need root"),
]


@pytest.fixture(autouse=True)
def one_at_a_time() -> Iterator[None]:
    """These tests make the host's launch namespace again (another view, a lost mount):
    one at a time across pytest's workers, or one would see another's namespace."""
    with open("/tmp/hosting-launch-ns-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def app_netns() -> Iterator[str]:
    """A network namespace as an app's: a mount at /run/netns/<name> on the host."""
    name = f"hosting-lnstest-{os.getpid()}-{os.urandom(2).hex()}"
    netns.ensure(name)
    try:
        yield name
    finally:
        netns.remove(name)


def mount_points_inside(namespace: int) -> list[str]:
    """The mount points a process sees in the namespace of descriptor ``namespace``."""
    done = subprocess.run(
        ["nsenter", f"--mount=/proc/self/fd/{namespace}", "--", "cat", "/proc/self/mountinfo"],
        pass_fds=[namespace],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split()[4] for line in done.stdout.splitlines()]


def inode(fd: int) -> int:
    return os.fstat(fd).st_ino


def test_the_launch_namespace_has_the_hosts_mounts_without_the_apps_networks(
    app_netns: str,
) -> None:
    host = Path("/proc/self/mountinfo").read_text()
    assert f"/run/netns/{app_netns}" in host
    namespace = launch_ns.open_namespace(_system_args())
    try:
        inside = mount_points_inside(namespace)
        assert "/" in inside
        assert not [point for point in inside if point.startswith(netns.NETNS_DIR)], inside
        # And a network namespace made after it does not reach it either.
        later = f"{app_netns}-b"
        netns.ensure(later)
        try:
            assert not [p for p in mount_points_inside(namespace) if p.startswith("/run/netns")]
        finally:
            netns.remove(later)
    finally:
        os.close(namespace)
    info = os.stat(launch_ns.LAUNCH_DIR)
    assert info.st_uid == 0 and info.st_mode & 0o777 == 0o700  # root's alone


def test_it_is_made_once_and_entered_by_every_launch_after() -> None:
    first = launch_ns.open_namespace(_system_args())
    second = launch_ns.open_namespace(_system_args())
    try:
        assert inode(first) == inode(second)
    finally:
        os.close(first)
        os.close(second)


@pytest.fixture
def system_directory() -> Iterator[Path]:
    """A root-owned directory a view could bind by path, as /opt/<something>."""
    path = Path(tempfile.mkdtemp(prefix="launch-ns-", dir="/var/tmp"))
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)
        path.rmdir()


def test_a_mount_on_a_bound_directory_makes_it_again_and_the_old_one_stays_usable(
    system_directory: Path,
) -> None:
    view = [*_system_args(), "--ro-bind", str(system_directory), str(system_directory)]
    old = launch_ns.open_namespace(view)
    try:
        # The host mounts something where the view binds from (an operator's new volume):
        # on a host whose mounts do not propagate, only a new copy would show it.
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(system_directory)], check=True
        )
        new = launch_ns.open_namespace(view)
        try:
            assert inode(new) != inode(old)
            assert str(system_directory) in mount_points_inside(new)
            assert "/" in mount_points_inside(old)  # a launcher holding the old one goes on
        finally:
            os.close(new)
    finally:
        os.close(old)


def test_a_namespace_file_whose_mount_is_gone_is_made_again() -> None:
    # As after a reboot on a host whose /run is not a tmpfs: the file stays, empty.
    first = launch_ns.open_namespace(_system_args())
    os.close(first)
    subprocess.run(["umount", "--lazy", launch_ns.NAMESPACE], check=True)
    again = launch_ns.open_namespace(_system_args())
    try:
        assert "/" in mount_points_inside(again)
    finally:
        os.close(again)


def test_without_a_usable_directory_the_launch_says_why_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = tmp_path / "launch"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)  # others may enter: not a place for it
    monkeypatch.setattr(launch_ns, "LAUNCH_DIR", str(loose))
    monkeypatch.setattr(launch_ns, "NAMESPACE", str(loose / "mnt"))
    assert launch_ns.try_open(_system_args()) is None
    assert f"{loose} is not a directory only root may enter" in capsys.readouterr().err
    assert launch_ns.nsenter_options(None) == []


def test_a_container_is_made_from_the_launch_namespace(tenants: Tenants) -> None:
    needs_containers()
    box = tenants.make(programs={"app": program("app", "sleep 1000")})
    box.start()
    wait_until(lambda: "RUNNING" in box.ctl("status").stdout, 30, "app RUNNING")
    # bwrap's own process (the runtime's parent, outside the container) stays in the mount
    # namespace it was started in.
    init = box.init_pid()
    bwrap = int(Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert os.stat(f"/proc/{bwrap}/ns/mnt").st_ino == os.stat(launch_ns.NAMESPACE).st_ino
    assert "without the launch namespace" not in box.log.read_text()


def test_the_loopback_is_set_up_once_per_namespace(
    app_netns: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = netns.path_of(app_netns)
    note = Path(netns.LO_UP_DIR) / app_netns
    assert note.read_text() == str(os.stat(path).st_ino)
    # A second start runs no ip at all: with none to be found, it still succeeds.
    monkeypatch.setattr(binaries, "TOOL_PATH", str(tmp_path))
    assert netns.ensure(app_netns) == path
    monkeypatch.undo()
    # A namespace made again by hand (its loopback down) is another one: set up again.
    subprocess.run(["ip", "netns", "delete", app_netns], check=True)
    subprocess.run(["ip", "netns", "add", app_netns], check=True)
    shown = subprocess.run(
        ["ip", "-n", app_netns, "link", "show", "lo"], capture_output=True, text=True
    )
    assert "UP" not in shown.stdout.split(">")[0]
    netns.ensure(app_netns)
    shown = subprocess.run(
        ["ip", "-n", app_netns, "link", "show", "lo"], capture_output=True, text=True
    )
    assert "UP" in shown.stdout.split(">")[0]
    assert note.read_text() == str(os.stat(path).st_ino)
    netns.remove(app_netns)
    assert not note.exists()


def test_launchers_starting_side_by_side_make_it_once() -> None:
    # A host's boot: many launchers find no namespace at the same moment.
    subprocess.run(["umount", "--lazy", launch_ns.NAMESPACE], check=False)
    code = (
        "import os, sys; from workers.container import launch_ns;"
        " from workers.container.view import _system_args;"
        " print(os.fstat(launch_ns.open_namespace(_system_args())).st_ino)"
    )
    racers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    inodes = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(inodes) == 1, inodes
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    assert points.count(launch_ns.NAMESPACE) == 1
    assert points.count(launch_ns.LAUNCH_DIR) == 1
