"""What a rollout at prefix "/" changes on this machine, and putting the machine back.

The real-host test runs the roles against the machine it runs on. Before, it takes a
snapshot: a copy of /etc (users, groups, services, configs), the paths under the other
directories the roles write to, the installed Debian packages and whether Debian's
redis-server runs. After, it puts every one of them back and checks that nothing differs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Where the roles write, apart from /etc (copied whole). Only what appears under these is
# removed afterwards; files already there are left as they are.
WRITABLE_ROOTS = ("/opt", "/srv", "/var/lib", "/var/log", "/var/spool", "/usr/local", "/run")
# Bookkeeping of apt and dpkg, put back by apt itself when the packages are purged, and the
# files other services (not ours) keep changing.
NOT_OURS = (
    "/var/lib/apt",
    "/var/lib/dpkg",
    "/var/log/apt",
    "/var/log/dpkg.log",
    "/var/cache",
    "/etc/ld.so.cache",
    "/run/user",
)
REDIS_PIDFILE = "/run/redis/redis-server.pid"
# The user and group databases: compared by the names in them, and put back with userdel and
# groupdel (other processes may add and remove users meanwhile; a copy would undo theirs).
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
ACCOUNT_BACKUPS = tuple(f"{name}-" for name in ACCOUNT_FILES)
# State the system keeps for services and that the roles make through them.
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")


def _ours(path: str) -> bool:
    return not any(path == skip or path.startswith(skip + "/") for skip in NOT_OURS)


def _tree(root: str) -> set[str]:
    """Every path under ``root`` (symlinks not followed, other filesystems included)."""
    found: set[str] = set()
    for top, dirs, files in os.walk(root, followlinks=False):
        for name in (*dirs, *files):
            path = os.path.join(top, name)
            if _ours(path):
                found.add(path)
    return found


def _digest(path: str) -> str:
    """What a path is: its type, mode, owner and content (a link's target)."""
    info = os.lstat(path)
    head = f"{info.st_mode:o} {info.st_uid}:{info.st_gid}"
    if os.path.islink(path):
        return f"{head} -> {os.readlink(path)}"
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            return f"{head} {hashlib.sha256(handle.read()).hexdigest()}"
    return head


def _etc() -> dict[str, str]:
    return {
        path: _digest(path)
        for path in _tree("/etc")
        if path not in ACCOUNT_FILES and path not in ACCOUNT_BACKUPS
    }


def _names(path: str) -> set[str]:
    """The users or groups in /etc/passwd or /etc/group."""
    return {line.split(":", 1)[0] for line in Path(path).read_text().splitlines() if line}


def installed_packages() -> set[str]:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return {line.split()[0] for line in done.stdout.splitlines() if line.endswith(" installed")}


def _uids() -> set[int]:
    lines = Path("/etc/passwd").read_text().splitlines()
    return {int(line.split(":")[2]) for line in lines if line}


def _redis_runs() -> bool:
    """Whether Debian's redis-server service runs (its pidfile names a live process; other
    redis-servers, e.g. the tests' own, are not the service)."""
    try:
        pid = int(Path(REDIS_PIDFILE).read_text().strip())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()


def _netns() -> set[str]:
    return {entry.name for entry in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()


def _cgroups() -> set[str]:
    """Cgroups down to three levels (v1: controller/hosting-tenants/<app>; v2: the same
    without the controller)."""
    found = set()
    for pattern in ("*", "*/*", "*/*/*"):
        found.update(str(path) for path in CGROUP_ROOT.glob(pattern) if path.is_dir())
    return found


@dataclass
class Snapshot:
    backup: Path
    etc: dict[str, str]
    paths: set[str]
    packages: set[str]
    uids: set[int]
    users: set[str]
    groups: set[str]
    redis_ran: bool
    netns: set[str]
    cgroups: set[str]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def take(cls) -> Snapshot:
        backup = Path(tempfile.mkdtemp(prefix="real-host-etc-"))
        # cp -a: owners, modes and links as they are (shutil.copytree keeps no owner).
        subprocess.run(["cp", "-a", "/etc", str(backup / "etc")], check=True, timeout=120)
        paths: set[str] = set()
        for root in WRITABLE_ROOTS:
            paths |= _tree(root)
        return cls(
            backup=backup,
            etc=_etc(),
            paths=paths,
            packages=installed_packages(),
            uids=_uids(),
            users=_names("/etc/passwd"),
            groups=_names("/etc/group"),
            redis_ran=_redis_runs(),
            netns=_netns(),
            cgroups=_cgroups(),
        )

    def differences(self) -> list[str]:
        """How the machine differs from the snapshot, one line per path or part."""
        found = []
        now = _etc()
        for path in sorted(now.keys() | self.etc.keys()):
            if now.get(path) != self.etc.get(path):
                found.append(f"{path}: {self.etc.get(path, 'absent')} -> {now.get(path, 'absent')}")
        found += [f"user {name}: added" for name in sorted(_names("/etc/passwd") - self.users)]
        found += [f"group {name}: added" for name in sorted(_names("/etc/group") - self.groups)]
        for root in WRITABLE_ROOTS:
            for path in sorted(_tree(root) - self.paths):
                found.append(f"{path}: added")
        packages = installed_packages()
        found += [f"package {name}: installed" for name in sorted(packages - self.packages)]
        found += [f"package {name}: removed" for name in sorted(self.packages - packages)]
        if _redis_runs() != self.redis_ran:
            found.append(f"redis-server running: {self.redis_ran} -> {not self.redis_ran}")
        found += [f"netns {name}: added" for name in sorted(_netns() - self.netns)]
        found += [f"cgroup {path}: added" for path in sorted(_cgroups() - self.cgroups)]
        return found

    def restore(self) -> None:
        """Put the machine back: processes of users that did not exist, services, mounts,
        cgroups, /etc's files, added paths and packages. Best effort at each step; what could
        not be undone shows in differences()."""
        self._stop_redis_if_new()
        self._kill_new_users_processes()
        # Containers of the users made since (named after them); others' are left alone.
        new_users = _names("/etc/passwd") - self.users
        for name in _netns() - self.netns:
            if name.removeprefix("hosting-") in new_users:
                subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
        for path in sorted(_cgroups() - self.cgroups, key=len, reverse=True):
            if Path(path).name in new_users or Path(path).name == "hosting-tenants":
                _remove_cgroup(Path(path))
        self._remove_accounts()
        self._restore_etc()
        for root in WRITABLE_ROOTS:
            for path in sorted(_tree(root) - self.paths, key=len, reverse=True):
                _remove(path)
        added = sorted(installed_packages() - self.packages)
        if added:
            subprocess.run(
                ["apt-get", "purge", "-y", "-qq", *added],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                capture_output=True, timeout=600,
            )  # fmt: skip
        if self.redis_ran and not _redis_runs():
            subprocess.run(["service", "redis-server", "start"], capture_output=True, timeout=60)
        shutil.rmtree(self.backup, ignore_errors=True)

    def _stop_redis_if_new(self) -> None:
        # Stopped with the config the roles gave it (its pidfile), restarted by restore()
        # with the old one when it ran before.
        if _redis_runs():
            subprocess.run(["service", "redis-server", "stop"], capture_output=True, timeout=60)

    def _kill_new_users_processes(self) -> None:
        new = _uids() - self.uids
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                uid = entry.stat().st_uid
            except OSError:
                continue
            if uid in new:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except OSError:
                    pass

    def _remove_accounts(self) -> None:
        for user in _names("/etc/passwd") - self.users:
            subprocess.run(["userdel", user], capture_output=True, timeout=60)
        for group in _names("/etc/group") - self.groups:
            subprocess.run(["groupdel", group], capture_output=True, timeout=60)

    def _restore_etc(self) -> None:
        saved = self.backup / "etc"
        now = set(_etc())
        for path in sorted(now - self.etc.keys(), key=len, reverse=True):
            _remove(path)
        for path, digest in sorted(self.etc.items()):
            if path in now and _digest(path) == digest:
                continue
            source = saved / os.path.relpath(path, "/etc")
            if source.is_dir() and not source.is_symlink():
                os.makedirs(path, exist_ok=True)
                shutil.copystat(source, path)
                info = source.lstat()
                os.chown(path, info.st_uid, info.st_gid)
            else:
                _remove(path)
                if source.is_symlink():
                    os.symlink(os.readlink(source), path)
                else:
                    shutil.copy2(source, path)
                info = source.lstat()
                os.lchown(path, info.st_uid, info.st_gid)


def _mounted_at(path: str) -> bool:
    """Whether something is mounted at ``path`` (``os.path.ismount`` misses a directory
    bound onto itself, as the launch namespace's directory is)."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
        return os.path.ismount(path) or any(line.split()[4] == path for line in mounts)


def _remove(path: str) -> None:
    if _mounted_at(path):
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _remove_cgroup(path: Path) -> None:
    # A cgroup directory goes once it has no process and no child cgroup.
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            child.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass
