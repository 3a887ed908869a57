"""The system tools containers are made with, found only where root's own system keeps them
(never on an inherited PATH), and the Debian package to install when one is missing."""

from __future__ import annotations

import shutil

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
    found = shutil.which(name, path=TOOL_PATH)
    if found is None:
        raise LaunchError(f"{name} is not installed (Debian: apt-get install {PACKAGES[name]})")
    return found
