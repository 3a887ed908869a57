"""Parse an app's config the way its runtime will: as the tenant, inside the tenant's view.

A tenant writes its own files into conf/supervisor.d/, and ``%(ENV_X)s``, ``%(here)s``,
include globs and path checks in them are evaluated by whoever parses them. The workers run
as root with the platform's environment, so they never parse a tenant's config themselves:
the parser runs in a throw-away sandbox with the container's view (the app's root at /srv,
read-only, with the config to check laid over /srv/conf), the container's clean environment,
no network, and the app's user. What it reports names /srv paths, never the host's.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from hosting.rendering import MANAGED_HEADER

from workers.container import cgroups, launch_ns
from workers.container.binaries import tool
from workers.container.launch import drop_privileges_args
from workers.container.spec import BASE_CONF, TOOLS_LIB, ContainerSpec
from workers.container.view import bwrap_args, opened_mounts

TIMEOUT_SECONDS = 30
MAX_MESSAGE_CHARS = 4096
REFUSED = 3  # the exit status that means "the parser refused the config"

# A tenant's broken file is set aside ([include] skip_broken) and does not refuse the
# config; a file of ours that would be set aside does (see files.managed_set_aside).
CHECK = f"""
import sys
sys.path.insert(0, {TOOLS_LIB!r})
from supervisor_runtime.config import load_config
from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.notices import describe
try:
    config = load_config({BASE_CONF!r})
except ConfigError as exc:
    print(exc)
    sys.exit({REFUSED})
except OSError as exc:
    print(f"cannot read the config: {{exc}}")
    sys.exit({REFUSED})
for notice in config.config_notices:
    with open(notice.file, encoding="utf-8", errors="replace") as file:
        if file.read({len(MANAGED_HEADER)}) == {MANAGED_HEADER!r}:
            print(describe(notice.as_struct()))
            sys.exit({REFUSED})
"""


class SandboxFailed(Exception):
    """The sandbox itself failed (not the config): a transient or set-up problem."""


def check_config(spec: ContainerSpec, conf_dir: Path) -> str | None:
    """Parse ``conf_dir`` (a root-owned scratch copy of the app's conf/, readable by the
    app's group) as /srv/conf; the parser's message when it refuses it, None when it loads.
    The parser runs in the app's cgroup: a config made to eat memory (numprocs=100000)
    meets the app's own limit, not the host's."""
    # A cgroup of its own with the app's limits: not the container's, where it would pass
    # for the container's PID 1 and be killed by the container's restart.
    cgroup = cgroups.detect().cgroup(spec.key, cgroups.CHECKS_DIR)
    cgroup.create(spec.limits)
    procs = cgroup.procs_fds()
    try:
        return _run_check(spec, conf_dir, procs)
    finally:
        for fd in procs:
            os.close(fd)


def _run_check(spec: ContainerSpec, conf_dir: Path, procs: list[int]) -> str | None:
    with opened_mounts(spec, conf_overlay=conf_dir, cover_etc=False) as mounts:
        view = bwrap_args(spec, mounts, writable=False, own_network=True)
        # In the launch namespace when it can be had, as a container starts: bwrap's
        # set-up there does not grow with the number of apps on the host.
        namespace = launch_ns.try_open(view)
        argv = [
            *(
                []
                if namespace is None
                else [tool("nsenter"), *launch_ns.nsenter_options(namespace), "--"]
            ),
            *drop_privileges_args(spec),
            tool("bwrap"),
            *view,
            "--",
            spec.python,
            "-IS",
            "-c",
            CHECK,
        ]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                pass_fds=[*mounts.fds(), *([] if namespace is None else [namespace])],
                env={},
                check=False,
                preexec_fn=lambda: cgroups.join_self(procs),
            )
        except subprocess.TimeoutExpired:
            return f"reading the config took more than {TIMEOUT_SECONDS} s"
        finally:
            if namespace is not None:
                os.close(namespace)
    if done.returncode in (128 + signal.SIGKILL, -signal.SIGKILL):
        return "reading the config took more memory than the app may use"
    text = done.stdout.decode("utf-8", "replace").strip()[:MAX_MESSAGE_CHARS]
    if done.returncode == 0:
        return None
    if done.returncode == REFUSED:
        return text
    error = done.stderr.decode("utf-8", "replace").strip()[-MAX_MESSAGE_CHARS:]
    raise SandboxFailed(f"the config check could not run (exit {done.returncode}): {error}")


def prepare_scratch(conf_dir: Path, gid: int) -> None:
    """Make a scratch conf/ (and what is in it) readable by the app's group, root's only."""
    os.chmod(conf_dir.parent, 0o711)
    for directory, _subdirs, names in os.walk(conf_dir):
        os.chown(directory, 0, gid)
        os.chmod(directory, 0o750)
        for name in names:
            path = os.path.join(directory, name)
            os.chown(path, 0, gid)
            os.chmod(path, 0o640)
