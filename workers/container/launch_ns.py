"""The mount namespace containers are made in: the host's mounts without the apps' networks.

Each app's network namespace is a mount on the host (/run/netns/<name>), so a host with
1,000 apps has 1,000 mounts more than a bare one. bubblewrap reads /proc/self/mountinfo
once for every bind it makes (to find the mounts below it), and every one of those mounts
is a line of it: bwrap took 56 ms of CPU to make a container at 1,000 mounts, 8 ms at 30
(measured on this project's 2-core host). A start of 1,000 containers paid that a
thousand times.

So bwrap starts from a namespace of its own: a copy of the host's mounts with /run/netns
detached, made once and kept at NAMESPACE (a bind mount of the namespace, in LAUNCH_DIR,
a private mount only root may enter). The launcher (and the config check) enter it with
nsenter before bwrap; nothing in a container comes from the namespace's paths but what the
view binds by path, the system directories (/usr, /etc, /opt...).

- It follows the host: it is a slave of the host's mounts, so a mount made or removed on
  the host later is made or removed in it too, where the host's mounts are shared (as
  systemd makes them). Where they are not, STAMP records what each system directory the
  view binds was (device and inode) when the namespace was made, and a launch that finds
  one of them changed makes the namespace again.
- A namespace made again never disturbs containers already made from the old one, nor a
  launcher that opened it: each holds it by a descriptor.
- Nothing is lost without it: when it cannot be made (no ``unshare``...), the launcher
  says why and makes the container from the host's namespace, as before, only slower.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys

from workers.container.binaries import LaunchError, run_tool
from workers.container.netns import NETNS_DIR
from workers.container.notes import read_note, write_note

LAUNCH_DIR = "/run/hosting-launch"
NAMESPACE = f"{LAUNCH_DIR}/mnt"
STAMP = f"{LAUNCH_DIR}/mnt.stamp"
LOCK = f"{LAUNCH_DIR}/lock"
CLONE_NEWNS = 0x00020000
NS_GET_NSTYPE = 0xB703  # ioctl: the kind of namespace a namespace file is (linux/nsfs.h)
# bwrap's options that bind a host path (by path, not by descriptor) into the view.
BIND_OPTIONS = frozenset(("--bind", "--ro-bind", "--dev-bind"))


class LaunchNamespaceError(Exception):
    """The launch namespace could not be made; the message names the step and why."""


def stamp_of(view_args: list[str]) -> str:
    """What each host path the view binds by path is now: ``path device inode``, a line
    each."""
    lines = []
    for index, option in enumerate(view_args[:-1]):
        if option in BIND_OPTIONS:
            path = view_args[index + 1]
            try:
                info = os.stat(path)
            except OSError:
                lines.append(f"{path} missing")
                continue
            lines.append(f"{path} {info.st_dev} {info.st_ino}")
    return "\n".join(lines) + "\n"


def open_namespace(view_args: list[str]) -> int:
    """A descriptor (inheritable) of the launch namespace for a view made of
    ``view_args``, made or made again if needed."""
    stamp = stamp_of(view_args)
    fd = _open_current(stamp)
    if fd is None:
        fd = _make(stamp)
    os.set_inheritable(fd, True)
    return fd


def try_open(view_args: list[str]) -> int | None:
    """``open_namespace``, or None when the namespace cannot be had: then the reason goes to
    stderr (the program's log) and bwrap starts from the caller's own mounts, slower but
    the same."""
    try:
        return open_namespace(view_args)
    except (LaunchNamespaceError, OSError) as exc:
        print(f"tenant container: without the launch namespace: {exc}", file=sys.stderr)
        return None


def nsenter_options(namespace: int | None) -> list[str]:
    """nsenter's option to enter the namespace of descriptor ``namespace`` (none for None)."""
    return [] if namespace is None else [f"--mount=/proc/self/fd/{namespace}"]


def _open_current(stamp: str) -> int | None:
    """The namespace at NAMESPACE if it is one, a mount namespace, made for ``stamp``."""
    try:
        fd = os.open(NAMESPACE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if (
            os.fstat(fd).st_dev == os.stat("/proc/self/ns/mnt").st_dev
            and fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNS
            and read_note(STAMP) == stamp
        ):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _make(stamp: str) -> int:
    """Make the namespace (under LOCK: launchers start side by side at a host's boot)."""
    os.makedirs(LAUNCH_DIR, mode=0o700, exist_ok=True)
    info = os.lstat(LAUNCH_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise LaunchNamespaceError(f"{LAUNCH_DIR} is not a directory only root may enter")
    lock = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fd = _open_current(stamp)  # made by another launcher while this one waited
        if fd is not None:
            return fd
        mounts = _mount_points()
        # A mount of its own, private: the kernel binds a mount namespace only onto a
        # mount that does not propagate (the namespace could otherwise end up in itself).
        if LAUNCH_DIR not in mounts:
            _run("mount", "--bind", LAUNCH_DIR, LAUNCH_DIR)
        _run("mount", "--make-private", LAUNCH_DIR)
        if NAMESPACE in mounts:  # an older one: containers made from it keep it
            _run("umount", "--lazy", NAMESPACE)
        if NETNS_DIR not in mounts:
            # As iproute2's ``ip netns add`` makes it (a shared mount on itself), so that
            # the apps' networks made later go into that mount, which the copy leaves out,
            # rather than reach the copy through the host's own propagation.
            os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
            _run("mount", "--bind", NETNS_DIR, NETNS_DIR)
            _run("mount", "--make-shared", NETNS_DIR)
        os.close(os.open(NAMESPACE, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        # unshare binds the new namespace onto NAMESPACE, then runs umount in it.
        _run(
            "unshare",
            f"--mount={NAMESPACE}",
            "--propagation",
            "slave",
            "--",
            "umount",
            "--lazy",
            NETNS_DIR,
        )
        write_note(STAMP, stamp)
        fd = _open_current(stamp)
        if fd is None:
            raise LaunchNamespaceError(f"{NAMESPACE} holds no mount namespace after unshare")
        return fd
    finally:
        os.close(lock)


def _mount_points() -> set[str]:
    """Where something is mounted in this namespace (read only while making the launch
    namespace: it is the long file this module exists to keep from bwrap)."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as file:
        return {_unescape(line.split(" ", 5)[4]) for line in file}


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    if "\\" not in field:
        return field
    for code in ("040", "011", "012", "134"):
        field = field.replace(f"\\{code}", chr(int(code, 8)))
    return field


def _run(name: str, *args: str) -> None:
    try:
        code, words = run_tool(name, *args)
    except LaunchError as exc:
        raise LaunchNamespaceError(str(exc)) from None
    if code != 0:
        raise LaunchNamespaceError(f"{name} {' '.join(args)}: {words or f'exit {code}'}")
