"""Start one tenant container: ``python -m workers.container.launch SPEC``.

Run by the host runtime, as root, as the app's ``tenant-<app>`` program. In order:

1. read the spec (root's JSON, see ``spec``) and open the host directories the view binds
   (root's all the way down, never through a link);
2. kill whatever an earlier container of this app left in its cgroup, then move this
   process into the cgroup, with the plan's limits: everything below inherits it;
3. make sure the app's network namespace exists with its loopback up, and enter it;
4. enter the launch mount namespace (``launch_ns``: the host's mounts without the apps'
   networks, which made bwrap's start grow with the number of apps);
5. drop to the app's user, with no capabilities and no way to gain any (``setpriv``);
6. become ``bwrap``, which makes the user, PID, IPC, UTS and mount namespaces and runs the
   runtime as PID 1 of the container, on the view of ``view``.

Every step is a well-kept tool (util-linux's nsenter and setpriv, iproute2, bubblewrap)
exec'd in turn, so the host runtime's child is bwrap itself: stop it with ``stopasgroup``
(SIGTERM reaches the runtime, which stops its programs; bwrap ignores it and exits with the
runtime), and when the runtime dies, even by SIGKILL, the kernel ends every process of its
PID namespace: nothing survives the container and nothing is started twice.
"""

from __future__ import annotations

import _signal as signal  # the C half: ``signal`` imports ``enum``
import os
import sys

from workers.container import cgroups, launch_ns, netns
from workers.container.binaries import TOOL_PATH, LaunchError, tool
from workers.container.spec import BASE_CONF, TOOLS_BIN, ContainerSpec, SpecError, load_spec
from workers.container.view import HostMounts, ViewError, bwrap_args, opened_mounts

# What the launcher imports is paid at every container start, so nothing beyond ``os``,
# ``stat``, ``time`` and the C halves of ``signal`` and ``json`` (tested).
TYPE_CHECKING = False  # typing's own, without importing typing
if TYPE_CHECKING:
    from collections.abc import Sequence


def drop_privileges_args(spec: ContainerSpec) -> list[str]:
    """setpriv: the app's user and group only, no capabilities, no new privileges ever."""
    return [
        tool("setpriv"),
        f"--reuid={spec.uid}",
        f"--regid={spec.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def runtime_command(spec: ContainerSpec) -> list[str]:
    """The tenant runtime, as PID 1: our supervisord on the app's config."""
    return [spec.python, "-IS", f"{TOOLS_BIN}/supervisord", "-n", "-c", BASE_CONF]


def container_argv(spec: ContainerSpec, mounts: HostMounts, command: Sequence[str]) -> list[str]:
    """nsenter (the app's network, the launch namespace) -> setpriv (the app's user) ->
    bwrap (the rest). The launch namespace's descriptor stays open for nsenter; without
    it (it could not be made: the reason is printed) bwrap starts from the host's mounts."""
    view = bwrap_args(spec, mounts, writable=True, own_network=False)
    return [
        tool("nsenter"),
        f"--net={netns.path_of(spec.netns)}",
        *launch_ns.nsenter_options(launch_ns.try_open(view)),
        "--",
        *drop_privileges_args(spec),
        tool("bwrap"),
        *view,
        "--",
        *command,
    ]


def prepare(spec: ContainerSpec) -> cgroups.Cgroup:
    """The cgroup and network namespace of ``spec``, made and emptied of leftovers."""
    cgroup = cgroups.detect().cgroup(spec.key)
    cgroup.create(spec.limits)
    cgroup.kill_all()
    netns.ensure(spec.netns)
    return cgroup


def launch(spec: ContainerSpec, command: Sequence[str] | None = None) -> None:
    """Become the container (never returns on success)."""
    if os.geteuid() != 0:
        raise LaunchError("the launcher must run as root (it drops to the app's user itself)")
    cgroup = prepare(spec)
    with opened_mounts(spec) as mounts:
        argv = container_argv(spec, mounts, command or runtime_command(spec))
        cgroup.add(os.getpid())
        # bwrap is the host runtime's child from here on: it ignores SIGTERM, so a stop
        # (sent to the whole process group) is the runtime's alone to act on. Python
        # ignores SIGPIPE and SIGXFSZ; everything below should not inherit that.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        # Nothing of the host runtime's environment (the platform's) goes along: bwrap's
        # own process stays outside the sandbox, as the tenant's user.
        os.chdir("/")
        os.execve(argv[0], argv, {"PATH": TOOL_PATH})


USAGE = "usage: python -m workers.container.launch [-h] [--digest DIGEST] spec"


def parse_args(argv: Sequence[str]) -> str | None:
    """The spec's path, or None after ``-h``. Not argparse: its import was a tenth of the
    launcher's start. ``--digest`` names the spec's content and is not read."""
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help"):
            print(f"{USAGE}\n\n{__doc__.split(chr(10) * 2)[0]}")
            return None
        if arg == "--digest":
            if next(args, None) is None:
                raise LaunchError("argument --digest: expected one argument")
        elif arg.startswith("--digest="):
            continue
        elif arg.startswith("-") and arg != "-":
            raise LaunchError(f"unrecognized arguments: {arg}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        raise LaunchError("one container spec (JSON, root's) is needed, and no more")
    return positional[0]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        path = parse_args(sys.argv[1:] if argv is None else argv)
    except LaunchError as exc:
        print(f"{USAGE}\ntenant container: {exc}", file=sys.stderr, flush=True)
        return 2
    if path is None:
        return 0
    try:
        launch(load_spec(path))
    except (SpecError, ViewError, LaunchError, cgroups.CgroupError, netns.NetnsError) as exc:
        print(f"tenant container: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0  # not reached: launch() execs


if __name__ == "__main__":
    sys.exit(main())
