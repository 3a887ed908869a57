"""Run a command inside a running tenant container, as its user: ``hostingctl exec``.

What a tenant's SSH login runs, and what operators use to act as the tenant. The caller
(root) joins the app's cgroup, then util-linux's ``nsenter`` enters every namespace of the
container's PID 1 and drops to the app's user; the command starts in /srv with the
container's clean environment (plus TERM, for an interactive shell), with no way to gain
privileges, and finds ``supervisorctl`` on its PATH, talking to the app's runtime with no
``-c``. It never holds the caller's terminal (``terminal``).

The container's PID 1 is found through the app's cgroup, which only root can change: the
one process there that runs as the app's user and is PID 1 of its own PID namespace (no
tenant can make another: user namespaces are disabled inside).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from workers.container import cgroups
from workers.container.binaries import LaunchError, tool
from workers.container.spec import APP_ROOT, ContainerSpec
from workers.container.terminal import any_terminal, run_detached, run_on_own_pty

LOGIN_SHELL = ("/bin/sh", "-l")


class NotRunning(LaunchError):
    """The app's container is not running (nothing to enter)."""


def process_uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def is_namespace_init(pid: int) -> bool:
    """Whether ``pid`` is PID 1 of the innermost PID namespace it lives in."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                return len(ids) > 1 and ids[-1] == "1"
    except OSError:
        return False
    return False


def container_init(spec: ContainerSpec, cgroup: cgroups.Cgroup | None = None) -> int:
    """The host PID of the container's PID 1 (the tenant runtime); NotRunning otherwise."""
    cgroup = cgroup or cgroups.detect().cgroup(spec.key)
    for pid in sorted(cgroup.pids()):
        if process_uid(pid) == spec.uid and is_namespace_init(pid):
            return pid
    raise NotRunning(f"the container of app {spec.app} is not running")


def enter_argv(
    spec: ContainerSpec,
    pid: int,
    command: Sequence[str],
    extra_env: Mapping[str, str] | None = None,
) -> list[str]:
    """nsenter (every namespace of the container's PID 1, the app's user) -> setpriv (no new
    privileges, as PID 1 has none) -> env (the container's environment, in /srv)."""
    env = {**spec.base_environment(), **(extra_env or {})}
    return [
        tool("nsenter"),
        f"--target={pid}",
        "--all",
        f"--setuid={spec.uid}",
        f"--setgid={spec.gid}",
        "--",
        "/usr/bin/setpriv",
        "--no-new-privs",
        "--",
        "/usr/bin/env",
        "-i",
        "-C",
        APP_ROOT,
        *(f"{k}={v}" for k, v in env.items()),
        *(command or LOGIN_SHELL),
    ]


def enter(spec: ContainerSpec, command: Sequence[str]) -> int:
    """Run ``command`` inside the container as its user; returns its exit status. It never
    gets our terminal (see ``terminal``): at a terminal it gets a pty of its own."""
    if os.geteuid() != 0:
        raise LaunchError("entering a container needs root (tenants go through sudo)")
    cgroup = cgroups.detect().cgroup(spec.key)
    pid = container_init(spec, cgroup)
    interactive = any_terminal()
    extra = {"TERM": os.environ["TERM"]} if os.environ.get("TERM") and interactive else {}
    argv = enter_argv(spec, pid, command, extra)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    procs = cgroup.procs_fds()
    try:
        # Only the command joins the app's cgroup (its limits, its kill at a restart); we,
        # root and holding the caller's terminal, stay outside.
        def join() -> None:
            cgroups.join_self(procs)

        if interactive:
            return run_on_own_pty(argv, join)
        return run_detached(argv, join)
    finally:
        for fd in procs:
            os.close(fd)
