"""An app's own network namespace: a loopback of its own and nothing else.

Named namespaces (iproute2's ``ip netns``, kept at /run/netns/<name>) outlive the processes
in them, so the container can restart without the host front losing its way in, and root
reaches them by a path no tenant can change. Inside, the app listens on 127.0.0.1:8080,
Redis on 6379 and memcached on 11211, in every tenant at once: no host-wide ports.
"""

from __future__ import annotations

import os

from workers.container.binaries import LaunchError, tool

NETNS_DIR = "/run/netns"
# [a-z0-9_.-]{1,64}, checked without ``re``: the launcher imports this module.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
NAME_MAX = 64


class NetnsError(Exception):
    """The namespace could not be made or removed; the message has iproute2's words."""


def ip_command() -> str:
    try:
        return tool("ip")
    except LaunchError as exc:
        raise NetnsError(str(exc)) from None


def _ip(*args: str) -> None:
    """Run ``ip args``; NetnsError with its words if it fails. ``posix_spawn`` rather than
    ``subprocess``, whose import the launcher would pay at every container start."""
    command = ip_command()
    read_end, write_end = os.pipe()
    try:
        actions = [(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)]
        pid = os.posix_spawn(command, ["ip", *args], os.environ, file_actions=actions)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        words = output.read().decode(errors="replace").strip()
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
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


def ensure(name: str) -> str:
    """The namespace ``name`` with its loopback up, made if missing; returns its path."""
    path = path_of(name)
    if not os.path.exists(path):
        try:
            _ip("netns", "add", name)
        except NetnsError:
            if not os.path.exists(path):  # another launcher may have made it meanwhile
                raise
    _ip("-n", name, "link", "set", "lo", "up")
    return path


def remove(name: str) -> None:
    if os.path.exists(path_of(name)):
        _ip("netns", "delete", name)
