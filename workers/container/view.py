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

The launcher imports this module at every container start: paths are strings (``os.path``),
not ``pathlib``, and ``opened_mounts`` is a plain class, not ``contextlib``'s, whose imports
(``re``, ``functools``, ``collections``...) cost more than the rest of the launch.
"""

from __future__ import annotations

import os
import stat

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
    path = os.fspath(path)
    if not os.path.isabs(path):
        raise ViewError(f"{path} is not absolute")
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        parts = [part for part in path.split("/") if part and part != "."]
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


class opened_mounts:  # lower case: it replaced a @contextmanager function of this name
    """``with opened_mounts(spec) as mounts``: the descriptors of ``spec``'s view,
    inheritable, closed on leaving. ``conf_overlay``: a directory laid over /srv/conf;
    ``cover_etc``: cover a host /etc/supervisord.conf."""

    def __init__(
        self,
        spec: ContainerSpec,
        conf_overlay: str | os.PathLike[str] | None = None,
        *,
        cover_etc: bool = True,
    ) -> None:
        self.spec = spec
        self.conf_overlay = conf_overlay
        self.cover_etc = cover_etc
        self.opened: list[int] = []

    def _take(self, path: str | os.PathLike[str], directory: bool = True) -> int:
        fd = open_root_owned(path, directory=directory)
        self.opened.append(fd)
        return fd

    def __enter__(self) -> HostMounts:
        spec = self.spec
        try:
            mounts = HostMounts(root=self._take(spec.root), assets=self._take(spec.assets))
            if self.cover_etc and os.path.lexists("/etc/supervisord.conf"):
                # The app's base config is root's (conf/ is root's, 0750): safe to open.
                conf = os.path.join(spec.root, "conf", "supervisord.conf")
                mounts.base_conf = self._take(conf, False)
            if self.conf_overlay is not None:
                mounts.conf_overlay = self._take(self.conf_overlay)
            for fd in self.opened:
                os.set_inheritable(fd, True)
        except BaseException:
            self.__exit__()
            raise
        return mounts

    def __exit__(self, *_exc: object) -> None:
        while self.opened:
            os.close(self.opened.pop())


def _system_args() -> list[str]:
    args: list[str] = []
    for name in SYSTEM_TOP_LEVEL:
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
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
