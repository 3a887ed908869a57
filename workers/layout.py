"""An app's root on its host, who owns what in it, and the app's system user.

The root is ``<apps_root>/<app>/srv`` (``hosting.models.app_root_for``) with the directories
of ``hosting.rendering.APP_DIRECTORIES``. When the workers run as root, each app has its own
system user and the tree is split so the tenant can never redirect a write of ours:

- ``<apps_root>/<app>`` and ``srv``: root, 0711 (traversable, not listable, not writable);
- ``srv/conf``: root, group of the app, 0750 (managed base config, redis.conf, nginx.conf);
- ``srv/conf/supervisor.d``, ``log``, ``run``, ``app``, ``var``: the app's user, 0700 (run/
  holds the runtime's socket, so another tenant cannot even reach it).

Without root everything belongs to the current user, with the same modes.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hosting.models import app_root_for
from hosting.rendering import APP_DIRECTORIES, BASE_CONF, PROGRAM_DIR, socket_path

USER_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
DEFAULT_USER_PREFIX = "app-"
ROOT_OWNED = ("conf",)  # the tenant may read but not change these


class LayoutError(Exception):
    """The app's root on disk is not what we expect (e.g. a symlink where a directory is)."""


@dataclass(frozen=True)
class Owner:
    """Who owns an app's files: uid/gid, and the user's name (None when not running as root)."""

    uid: int
    gid: int
    user: str | None = None


def running_as_root() -> bool:
    return os.geteuid() == 0


def app_user_name(app_id: int, prefix: str = DEFAULT_USER_PREFIX) -> str:
    """The app's system user: ``<prefix><app id>`` (ids never repeat; names may, across
    hosts on one machine)."""
    name = f"{prefix}{app_id}"
    if not USER_NAME_RE.fullmatch(name):
        raise LayoutError(f"{name!r} is not a valid user name (check the user prefix)")
    return name


def ensure_user(name: str, home: str) -> Owner:
    """The system user ``name``, created with ``useradd --system`` when missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--no-create-home"]
        command += ["--home-dir", home, "--shell", "/bin/sh", name]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        # Exit 9: another worker created it in the meantime.
        if done.returncode not in (0, 9):
            raise LayoutError(f"useradd {name} failed: {done.stderr.strip()}") from None
        entry = pwd.getpwnam(name)
    return Owner(entry.pw_uid, entry.pw_gid, name)


def app_owner(app_id: int, root: str, prefix: str = DEFAULT_USER_PREFIX) -> Owner:
    """The owner of an app's files: its own user when we are root, else ourselves."""
    if running_as_root():
        return ensure_user(app_user_name(app_id, prefix), root)
    return Owner(os.getuid(), os.getgid(), None)


@dataclass(frozen=True)
class AppLayout:
    """Paths of one app's root."""

    root: Path

    @classmethod
    def of(cls, apps_root: str, app_name: str) -> AppLayout:
        return cls(Path(app_root_for(apps_root, app_name)))

    @property
    def base_conf(self) -> Path:
        return self.root / BASE_CONF

    @property
    def program_dir(self) -> Path:
        return self.root / PROGRAM_DIR

    @property
    def socket(self) -> Path:
        return Path(socket_path(str(self.root)))

    @property
    def serverurl(self) -> str:
        return f"unix://{self.socket}"

    def path(self, relative: str) -> Path:
        return self.root / relative


def ensure_dir(path: Path, mode: int, uid: int, gid: int) -> None:
    """``path`` exists as a real directory (never a symlink) with this owner and mode."""
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise LayoutError(f"{path} exists and is not a directory")
    if (info.st_uid, info.st_gid) != (uid, gid) and running_as_root():
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)


def prepare_root(layout: AppLayout, owner: Owner, extra_dirs: tuple[str, ...] = ()) -> None:
    """Create the app's directories (idempotent) with their owners and modes; ``extra_dirs``
    (relative, e.g. ``var/redis``) belong to the app's user."""
    me_uid, me_gid = (0, 0) if running_as_root() else (os.getuid(), os.getgid())
    layout.root.parent.parent.mkdir(parents=True, exist_ok=True)
    ensure_dir(layout.root.parent, 0o711, me_uid, me_gid)
    ensure_dir(layout.root, 0o711, me_uid, me_gid)
    for relative in APP_DIRECTORIES:
        if relative in ROOT_OWNED:
            ensure_dir(layout.path(relative), 0o750, me_uid, owner.gid)
        else:
            ensure_dir(layout.path(relative), 0o700, owner.uid, owner.gid)
    for relative in extra_dirs:
        path = layout.path(relative)
        # Parents first (var/ exists; deeper ones are made here), all the app's.
        for parent in reversed(path.relative_to(layout.root).parents[:-1]):
            ensure_dir(layout.root / parent, 0o700, owner.uid, owner.gid)
        ensure_dir(path, 0o700, owner.uid, owner.gid)
