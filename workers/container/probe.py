"""Can this host put tenants in containers? ``why_not()`` says, in one line, or None.

Asked once by whoever writes a host's config (the launcher of ``scripts/run``, ``hostingctl
host-config``): a host without containers still runs, but says so loudly, at start and in
the panel, because its tenants are not kept apart.
"""

from __future__ import annotations

import os
import subprocess

from workers.container import cgroups
from workers.container.binaries import PACKAGES, LaunchError, tool

NOBODY = 65534
TRIAL_SECONDS = 10


def why_not() -> str | None:
    """None when containers work here; otherwise the reason, naming what to fix."""
    if os.geteuid() != 0:
        return "not running as root (containers need root to set up namespaces and cgroups)"
    try:
        for name in PACKAGES:
            tool(name)
    except LaunchError as exc:
        return str(exc)
    try:
        cgroups.detect()
    except cgroups.CgroupError as exc:
        return str(exc)
    return _trial()


def _trial() -> str | None:
    """Make a throw-away sandbox as an unprivileged user, the way the launcher will."""
    setpriv, bwrap = tool("setpriv"), tool("bwrap")
    command = [
        str(setpriv),
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--",
        str(bwrap),
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--disable-userns",
        "--as-pid-1",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--proc",
        "/proc",
        "--",
        "/usr/bin/true",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TRIAL_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not be tried: {exc}"
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
        return f"bubblewrap cannot make a sandbox here ({detail}); are user namespaces enabled?"
    return None
