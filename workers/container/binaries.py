"""The system tools containers are made with, found only where root's own system keeps them
(never on an inherited PATH), and the Debian package to install when one is missing."""

from __future__ import annotations

import os

TOOL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
PACKAGES = {
    "bwrap": "bubblewrap",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
    "unshare": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "ip": "iproute2",
}


class LaunchError(Exception):
    """A container cannot be started or entered; the message says what is missing or wrong."""


def tool(name: str) -> str:
    """The first executable ``name`` on TOOL_PATH (as ``shutil.which``, which the launcher
    does not import: every import is paid at each container start)."""
    for directory in TOOL_PATH.split(":"):
        found = os.path.join(directory, name)
        if os.access(found, os.X_OK) and not os.path.isdir(found):
            return found
    raise LaunchError(f"{name} is not installed (Debian: apt-get install {PACKAGES[name]})")


def run_tool(name: str, *args: str) -> tuple[int, str]:
    """Run ``name args`` (found by ``tool``) to its end: its exit status and its output
    (stdout and stderr together). ``posix_spawn`` rather than ``subprocess``, whose import
    the launcher would pay at every container start."""
    command = tool(name)
    read_end, write_end = os.pipe()
    try:
        actions = [(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)]
        pid = os.posix_spawn(command, [name, *args], {"PATH": TOOL_PATH}, file_actions=actions)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        words = output.read().decode(errors="replace").strip()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), words
