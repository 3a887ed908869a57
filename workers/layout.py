"""An app's root on its host, who owns what in it, and the app's system user.

The root is ``<apps_root>/<app>/srv`` (``hosting.models.app_root_for``) with the directories
of ``hosting.rendering.APP_DIRECTORIES``. When the workers run as root, each app has its own
system user and the tree is split so the tenant can never redirect a write of ours:

- ``<apps_root>/<app>`` and ``srv``: root, 0711 (traversable, not listable, not writable);
- ``srv/conf``: root, group of the app, 0750 (managed base config, redis.conf, nginx.conf);
- ``srv/conf/supervisor.d``, ``log``, ``run``, ``app``, ``var``: the app's user, 0700 (run/
  holds the runtime's socket, so another tenant cannot even reach it).

Directories are made and checked through descriptors, one component at a time and never
through a link, so a tenant who swaps a path inside its own tree (``var/redis`` for a link
to /etc, say) gets a refusal, not a chown of /etc. A directory that belongs to another user
is never adopted: a deleted app's root is moved aside (``retire_root``), and a later app of
the same name starts from an empty one.

Without root everything belongs to the current user, with the same modes.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hosting.models import app_root_for
from hosting.rendering import APP_DIRECTORIES, BASE_CONF, PROGRAM_DIR, socket_path

USER_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
TENANT_GROUP = "hosting-tenants"  # sshd sends its members into their containers
ROOT_OWNED = ("conf",)  # the tenant may read but not change these
RETIRED_DIR = ".deleted"


class LayoutError(Exception):
    """The app's root on disk is not what we expect (e.g. a symlink where a directory is).
    Messages name paths relative to the app's root: tenants read them in job errors."""


@dataclass(frozen=True)
class Owner:
    """Who owns an app's files: uid/gid, and the user's name (None when not running as root)."""

    uid: int
    gid: int
    user: str | None = None


def running_as_root() -> bool:
    return os.geteuid() == 0


def app_user_name(app_id: int, prefix: str) -> str:
    """The app's system user: ``<prefix><app id>``; app ids are never handed out twice and
    the prefix is the platform's own (``hosting.identities.user_prefix``)."""
    name = f"{prefix}{app_id}"
    if not USER_NAME_RE.fullmatch(name):
        raise LayoutError(f"{name!r} is not a valid user name (check the user prefix)")
    return name


# How the app's user is made. Not ``--system``: system ids are 100-999 (login.defs'
# SYS_UID_MIN/MAX), fewer than a host's tenants (measured: the 864th app's useradd failed
# with "Can't get unique GID"), and a deleted app's id is never handed out again. Regular
# ids (UID_MIN-UID_MAX, 1000-60000 by default) hold tens of thousands, as shared hosting's
# one-user-per-customer does. No subordinate ids (SUB_UID_COUNT=0): useradd would otherwise
# give each tenant 65,536 of them in /etc/subuid, for setuid newuidmap to map.
USERADD = [
    "useradd", "--user-group", "--no-create-home",
    "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0",
]  # fmt: skip


def ensure_user(name: str, home: str) -> Owner:
    """The app's user ``name`` (``USERADD``), created when missing, in the tenants' group
    when the host has one (the roles make it, for SSH)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        command = [*USERADD, "--home-dir", home, "--shell", "/bin/sh"]
        if _group_exists(TENANT_GROUP):
            command += ["--groups", TENANT_GROUP]
        done = subprocess.run([*command, name], capture_output=True, text=True, check=False)
        # Exit 9: another worker created it in the meantime.
        if done.returncode not in (0, 9):
            raise LayoutError(f"useradd {name} failed: {done.stderr.strip()}") from None
        entry = pwd.getpwnam(name)
    return Owner(entry.pw_uid, entry.pw_gid, name)


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def retire_user(name: str) -> None:
    """A deleted app's user stays (its uid must never go to someone else, who would then
    own the kept files) but can never log in or be used again."""
    if not running_as_root():
        return
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(
        ["usermod", "--lock", "--expiredate", "1", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        check=False,
    )
    if _group_exists(TENANT_GROUP):
        subprocess.run(
            ["gpasswd", "--delete", name, TENANT_GROUP], capture_output=True, check=False
        )


def app_owner(user: str, home: str) -> Owner:
    """The owner of an app's files: its own user ``user`` (made if missing) when we are
    root, else ourselves."""
    if running_as_root():
        return ensure_user(user, home)
    return Owner(os.getuid(), os.getgid(), None)


def find_owner(user: str) -> Owner | None:
    """The app's owner if its user exists (never creates one); None when it does not."""
    if not running_as_root():
        return Owner(os.getuid(), os.getgid(), None)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return Owner(entry.pw_uid, entry.pw_gid, entry.pw_name)


def find_owners(users: Iterable[str]) -> dict[str, Owner]:
    """``find_owner`` of each of ``users`` that exists, from one read of the user database:
    getpwnam reads /etc/passwd from its start, and a host has a user per app, so one lookup
    per app made a round over the apps cost the square of their number."""
    if not running_as_root():
        return {user: Owner(os.getuid(), os.getgid(), None) for user in users}
    wanted = set(users)
    found: dict[str, Owner] = {}
    for entry in pwd.getpwall():
        if entry.pw_name in wanted and entry.pw_name not in found:  # the first, as getpwnam
            found[entry.pw_name] = Owner(entry.pw_uid, entry.pw_gid, entry.pw_name)
    return found


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


def _ensure_dir_at(parent_fd: int, name: str, where: str, mode: int, uid: int, gid: int) -> int:
    """The directory ``name`` in ``parent_fd`` (made if missing), opened without following a
    link, owned by (uid, gid) with ``mode``; returns its descriptor. A directory that
    belongs to anyone but us or (uid, gid)'s user is refused, never taken over."""
    try:
        os.mkdir(name, mode, dir_fd=parent_fd)
    except FileExistsError:
        pass
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError:
        raise LayoutError(f"{where} exists and is not a directory") from None
    try:
        info = os.fstat(fd)
        if running_as_root():
            if info.st_uid not in (0, uid):
                raise LayoutError(f"{where} belongs to another user; refusing to take it over")
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.fchown(fd, uid, gid)
        if stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)
        return fd
    except BaseException:
        os.close(fd)
        raise


def prepare_root(layout: AppLayout, owner: Owner, extra_dirs: tuple[str, ...] = ()) -> None:
    """Create the app's directories (idempotent) with their owners and modes; ``extra_dirs``
    (relative, e.g. ``var/redis``) belong to the app's user."""
    me_uid, me_gid = (0, 0) if running_as_root() else (os.getuid(), os.getgid())
    apps_root = layout.root.parent.parent
    apps_root.mkdir(parents=True, exist_ok=True)
    top = os.open(apps_root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        app_dir = _ensure_dir_at(top, layout.root.parent.name, ".", 0o711, me_uid, me_gid)
    finally:
        os.close(top)
    try:
        root = _ensure_dir_at(app_dir, layout.root.name, ".", 0o711, me_uid, me_gid)
    finally:
        os.close(app_dir)
    try:
        for relative in APP_DIRECTORIES:
            if relative in ROOT_OWNED:
                _make_path(root, relative, 0o750, me_uid, owner.gid)
            else:
                _make_path(root, relative, 0o700, owner.uid, owner.gid)
        for relative in extra_dirs:
            _make_path(root, relative, 0o700, owner.uid, owner.gid)
    finally:
        os.close(root)


def _make_path(root_fd: int, relative: str, mode: int, uid: int, gid: int) -> None:
    """Each component of ``relative`` under the root; the last with (uid, gid, mode), the
    ones above must already be there (APP_DIRECTORIES lists parents first)."""
    parts = Path(relative).parts
    fd = os.dup(root_fd)
    try:
        for index, part in enumerate(parts[:-1]):
            where = "/".join(parts[: index + 1])
            try:
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                raise LayoutError(f"{where} is missing or is not a directory") from None
            os.close(fd)
            fd = next_fd
        os.close(_ensure_dir_at(fd, parts[-1], relative, mode, uid, gid))
    finally:
        os.close(fd)


def retire_root(layout: AppLayout, app_id: int) -> str | None:
    """Move a deleted app's whole directory to ``<apps_root>/.deleted/`` (root's, 0700),
    where no later app can reach it; returns the new name, or None when there was none."""
    app_dir = layout.root.parent
    if not app_dir.exists():
        return None
    retired = app_dir.parent / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    os.chmod(retired, 0o700)
    name = f"{app_dir.name}-{app_id}-{time.strftime('%Y%m%d%H%M%S')}"
    os.rename(app_dir, retired / name)
    return f"{RETIRED_DIR}/{name}"
