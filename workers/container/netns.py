"""An app's own network namespace: a loopback of its own and nothing else.

Named namespaces (iproute2's ``ip netns``, kept at /run/netns/<name>) outlive the processes
in them, so the container can restart without the host front losing its way in, and root
reaches them by a path no tenant can change. Inside, the app listens on 127.0.0.1:8080,
Redis on 6379 and memcached on 11211, in every tenant at once: no host-wide ports.
"""

from __future__ import annotations

import os

from workers.container.binaries import LaunchError, run_tool
from workers.container.notes import read_note, write_note

NETNS_DIR = "/run/netns"
# Notes of the namespaces whose loopback is up (see ``ensure``): root's, on /run.
LO_UP_DIR = "/run/hosting-netns"
# [a-z0-9_.-]{1,64}, checked without ``re``: the launcher imports this module.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
NAME_MAX = 64


class NetnsError(Exception):
    """The namespace could not be made or removed; the message has iproute2's words."""


def _ip(*args: str) -> None:
    """Run ``ip args``; NetnsError with its words if it fails."""
    try:
        code, words = run_tool("ip", *args)
    except LaunchError as exc:
        raise NetnsError(str(exc)) from None
    if code != 0:
        raise NetnsError(f"ip {' '.join(args)}: {words or code}")


def name_for(key: str) -> str:
    """The namespace of app ``key`` (its user's name)."""
    return f"hosting-{key}"


def path_of(name: str) -> str:
    """/run/netns/<name>; NetnsError unless ``name`` is a plain namespace name."""
    if not (0 < len(name) <= NAME_MAX and NAME_CHARS.issuperset(name)) or name in (".", ".."):
        raise NetnsError(f"{name!r} is not a network namespace name")
    return f"{NETNS_DIR}/{name}"


def namespace_inode(path: str) -> int | None:
    """The inode of the namespace mounted at ``path``, or None when ``path`` is missing or
    is no namespace (a file whose mount is gone). Every namespace file is on nsfs, the
    same device as this process's own."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino if info.st_dev == os.stat("/proc/self/ns/net").st_dev else None


def ensure(name: str) -> str:
    """The namespace ``name`` with its loopback up, made if missing; returns its path.

    The loopback is set up once per namespace, not at every start: ``ip -n`` makes a mount
    namespace of its own, a copy of the host's, which holds one mount per app (3 ms of CPU
    at 1,000 apps). A note in LO_UP_DIR names the namespace (its inode) whose loopback is
    up; a namespace made again (after a reboot, or by hand) has another inode, so it is
    set up again. Nobody in the namespace can take the loopback down: the apps hold no
    capability over it."""
    path = path_of(name)
    if not os.path.exists(path):
        try:
            _ip("netns", "add", name)
        except NetnsError:
            if not os.path.exists(path):  # another launcher may have made it meanwhile
                raise
    inode = namespace_inode(path)
    note = f"{LO_UP_DIR}/{name}"
    if inode is None or read_note(note) != str(inode):
        # Without a namespace there (a file left by a lost mount), ip says why.
        _ip("-n", name, "link", "set", "lo", "up")
        if inode is not None:
            write_note(note, str(inode))
    return path


def remove(name: str) -> None:
    if os.path.exists(path_of(name)):
        _ip("netns", "delete", name)
    try:
        os.unlink(f"{LO_UP_DIR}/{name}")
    except FileNotFoundError:
        pass
