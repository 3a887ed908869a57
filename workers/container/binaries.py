"""The system tools containers are made with, found only where root's own system keeps them
(never on an inherited PATH), and the Debian package to install when one is missing."""

from __future__ import annotations

import os

TOOL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
PACKAGES = {
    "bwrap": "bubblewrap",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
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
