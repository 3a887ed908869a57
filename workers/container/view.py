"""The filesystem a tenant sees, as bubblewrap arguments.

Inside every container, and in the sandbox that validates a tenant's config:

- ``/srv``: the app's root (read-write in the container), as in the seeds;
- the system read-only: ``/usr`` (with the merged-/usr links), ``/etc``, and ``/opt`` but the
  platform's own install; the platform's own config in /etc (``supervisor``,
  ``supervisor.d``, ``hosting``) is hidden under empty directories, and a host
  ``/etc/supervisord.conf`` is covered by the app's own, so that ``supervisorctl`` with no
  ``-c`` finds the app's runtime as stock would;
- ``/opt/hosting``: our commands (``bin``), the runtime package (``lib``), and the app's
  config as ``etc/supervisord.conf`` (what supervisorctl finds next to its executable), all
  from ``assets``;
- a private ``/tmp``, ``/var/tmp`` and ``/run``, a fresh ``/proc`` of the container's PID
  namespace and a minimal ``/dev``. No other tenant, no host root, no database.

Host directories are opened here by root (``O_PATH``, never following a link, each component
checked to be root's and writable by no one else) and handed to bwrap as descriptors; bwrap,
which runs as the tenant, binds them and checks that what it mounted is the very directory
of the descriptor, so a path swapped in between is refused, not followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.container.spec import APP_ROOT, TOOLS_PREFIX, ContainerSpec

SYSTEM_TOP_LEVEL = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
HIDDEN_ETC = ("supervisor", "supervisor.d", "hosting")
PLATFORM_OPT = ("hosting",)  # the roles install the platform's venv under /opt/hosting
TMP_BYTES = 256 * 1024 * 1024  # /tmp and /run are memory; the cgroup counts them too


class ViewError(Exception):
    """A host path the view needs is missing or could have been changed by a tenant."""


def open_root_owned(path: str | os.PathLike[str], *, directory: bool = True) -> int:
    """An ``O_PATH`` descriptor of ``path``, walking it one component at a time without
    following links; every directory on the way must be root's and writable by no one else
    (a sticky, root-owned /tmp is fine: nobody can rename what root made in it)."""
    path = Path(path)
    if not path.is_absolute():
        raise ViewError(f"{path} is not absolute")
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        parts = path.parts[1:]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = os.O_PATH | os.O_NOFOLLOW
            if not last or directory:
                flags |= os.O_DIRECTORY
            try:
                next_fd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                where = "/" + "/".join(parts[: index + 1])
                raise ViewError(f"{where}: {exc.strerror}") from None
            os.close(fd)
            fd = next_fd
            _check_root_owned(fd, "/" + "/".join(parts[: index + 1]), last and not directory)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _check_root_owned(fd: int, where: str, is_file: bool) -> None:
    info = os.fstat(fd)
    if stat.S_ISLNK(info.st_mode):
        raise ViewError(f"{where} is a symbolic link")
    if info.st_uid != 0:
        raise ViewError(f"{where} belongs to uid {info.st_uid}, not root")
    sticky = info.st_mode & stat.S_ISVTX
    if info.st_mode & 0o022 and not (sticky and not is_file):
        raise ViewError(f"{where} is writable by others than root")


class HostMounts:
    """Descriptors of what the view binds, opened by root (see ``opened_mounts``)."""

    def __init__(self, root: int, assets: int) -> None:
        self.root = root
        self.assets = assets
        self.base_conf: int | None = None  # covers a host /etc/supervisord.conf
        self.conf_overlay: int | None = None  # validation: a scratch conf/ over /srv/conf

    def fds(self) -> list[int]:
        found = (self.root, self.assets, self.base_conf, self.conf_overlay)
        return [fd for fd in found if fd is not None]


@contextmanager
def opened_mounts(
    spec: ContainerSpec, conf_overlay: Path | None = None, *, cover_etc: bool = True
) -> Iterator[HostMounts]:
    """The descriptors of ``spec``'s view, inheritable, closed on leaving. ``conf_overlay``:
    a directory laid over /srv/conf; ``cover_etc``: cover a host /etc/supervisord.conf."""
    opened: list[int] = []

    def take(path: str | Path, directory: bool = True) -> int:
        fd = open_root_owned(path, directory=directory)
        opened.append(fd)
        return fd

    try:
        mounts = HostMounts(root=take(spec.root), assets=take(spec.assets))
        if cover_etc and os.path.lexists("/etc/supervisord.conf"):
            # The app's base config is root's (conf/ is root's, 0750): safe to open.
            mounts.base_conf = take(Path(spec.root) / "conf" / "supervisord.conf", False)
        if conf_overlay is not None:
            mounts.conf_overlay = take(conf_overlay)
        for fd in opened:
            os.set_inheritable(fd, True)
        yield mounts
    finally:
        for fd in opened:
            os.close(fd)


def _system_args() -> list[str]:
    args: list[str] = []
    for name in SYSTEM_TOP_LEVEL:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    args += ["--ro-bind", "/etc", "/etc"]
    for name in HIDDEN_ETC:
        if os.path.isdir(f"/etc/{name}"):
            args += ["--tmpfs", f"/etc/{name}", "--remount-ro", f"/etc/{name}"]
    args += ["--dir", "/opt"]
    if os.path.isdir("/opt"):
        for entry in sorted(os.listdir("/opt")):
            if entry not in PLATFORM_OPT:
                args += ["--ro-bind", f"/opt/{entry}", f"/opt/{entry}"]
    return args


def bwrap_args(
    spec: ContainerSpec,
    mounts: HostMounts,
    *,
    writable: bool,
    own_network: bool,
    environment: dict[str, str] | None = None,
) -> list[str]:
    """bwrap's options (without the command) for ``spec``'s view. ``writable``: /srv is
    read-write (the container) or read-only (validation). ``own_network``: a fresh, empty
    network namespace (validation); otherwise the caller's, i.e. the app's named one."""
    args = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--as-pid-1",
        "--die-with-parent",
        "--hostname",
        spec.app,
    ]
    if own_network:
        args.append("--unshare-net")
    args += _system_args()
    args += ["--ro-bind-fd", str(mounts.assets), TOOLS_PREFIX]
    args += ["--bind-fd" if writable else "--ro-bind-fd", str(mounts.root), APP_ROOT]
    if mounts.conf_overlay is not None:
        args += ["--ro-bind-fd", str(mounts.conf_overlay), f"{APP_ROOT}/conf"]
    if mounts.base_conf is not None:
        args += ["--ro-bind-fd", str(mounts.base_conf), "/etc/supervisord.conf"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for target in ("/tmp", "/run"):
        args += ["--size", str(TMP_BYTES), "--tmpfs", target]
    args += ["--dir", "/var", "--size", str(TMP_BYTES), "--tmpfs", "/var/tmp"]
    args += ["--symlink", "../run", "/var/run", "--remount-ro", "/"]
    args += ["--chdir", APP_ROOT, "--clearenv"]
    if environment is None:
        environment = spec.base_environment()
    for name, value in environment.items():
        args += ["--setenv", name, value]
    return args
