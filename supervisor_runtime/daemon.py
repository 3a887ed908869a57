"""Process-level chores of the daemon: privileges, limits, pidfile, daemonizing.

Each function either succeeds or raises ``StartupError`` with the text
supervisord would print before exiting with status 2.
"""

from __future__ import annotations

import os
import sys


class StartupError(Exception):
    """The daemon cannot start; ``str()`` is the message for the user."""


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (with its groups) when running as root."""
    import grp  # only for user=: not kept by every daemon
    import pwd

    current = os.getuid()
    if current == uid:
        return
    if current != 0:
        raise StartupError("Can't drop privilege as nonroot user")
    try:
        record = pwd.getpwuid(uid)
    except KeyError:
        raise StartupError(f"Can't find uid {uid!r}") from None
    groups = [g.gr_gid for g in grp.getgrall() if record.pw_name in g.gr_mem]
    try:
        os.setgroups([record.pw_gid, *groups])
        os.setgid(record.pw_gid)
        os.setuid(uid)
    except OSError as error:
        raise StartupError(f"Could not set user id of effective user: {error}") from None


def soft_limits_suffice(minimums: dict[str, int], path: str = "/proc/self/limits") -> bool:
    """Whether each soft limit named in ``minimums`` (a row of /proc/self/limits: "Max open
    files") is unlimited or at least its minimum; False when that cannot be read. The usual
    answer, True, needs no ``resource`` module (issue 18)."""
    try:
        with open(path) as handle:
            rows = handle.read().splitlines()
    except OSError:
        return False
    found = 0
    for row in rows:
        for label, minimum in minimums.items():
            if row.startswith(label + " "):
                soft = row[len(label) :].split()[0]
                if soft != "unlimited" and int(soft) < minimum:
                    return False
                found += 1
    return found == len(minimums)


def raise_limits(minfds: int, minprocs: int) -> list[str]:
    """Raise RLIMIT_NOFILE / RLIMIT_NPROC to the configured minimums.

    Returns info messages for the main log; raises StartupError when a limit
    cannot be raised far enough.
    """
    if soft_limits_suffice({"Max open files": minfds, "Max processes": minprocs}):
        return []
    import resource  # only when a limit is to be raised: not kept by every daemon

    messages = []
    for name, resource_id, minimum, what, setting in (
        ("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, minfds, "file descriptors", "minfds"),
        ("RLIMIT_NPROC", resource.RLIMIT_NPROC, minprocs, "processes", "minprocs"),
    ):
        soft, hard = resource.getrlimit(resource_id)
        if soft == resource.RLIM_INFINITY or soft >= minimum:
            continue
        new_hard = hard
        if hard != resource.RLIM_INFINITY and hard < minimum:
            new_hard = minimum  # only root may do this; setrlimit says no otherwise
        try:
            resource.setrlimit(resource_id, (minimum, new_hard))
        except (ValueError, OSError):
            raise StartupError(
                f"The minimum number of {what} required to run this process is {minimum} "
                f'as per the "{setting}" command-line argument or config file setting. '
                f"The current environment will only allow you to open {hard} {what}.  "
                f"Either raise the number of usable {what} in your environment or lower "
                f"the {setting} setting in the config file to allow the process to start."
            ) from None
        messages.append(f"Increased {name} limit to {minimum}")
    return messages


def running_pid_from(pidfile: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive and is a supervisord."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return None  # no such process: a stale pidfile
    return pid if b"supervisord" in cmdline else None


def write_pidfile(pidfile: str) -> None:
    """Write our pid atomically: a reader never sees a half-written file."""
    temporary = f"{pidfile}.{os.getpid()}.tmp"
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    # O_EXCL|O_NOFOLLOW: a planted file or symlink at the temporary name is refused.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    os.replace(temporary, pidfile)


def remove_pidfile(pidfile: str) -> None:
    """Remove the pidfile, but only if it is still ours."""
    try:
        with open(pidfile) as handle:
            if int(handle.read().strip()) != os.getpid():
                return
        os.unlink(pidfile)
    except (OSError, ValueError):
        pass


def daemonize(directory: str | None, umask: int) -> list[tuple[str, str]]:
    """Detach from the terminal: fork, the parent exits, the child starts a session.

    Returns (level, message) pairs for the main log, written by the caller.
    """
    if os.fork() != 0:
        os._exit(0)
    messages = [("info", "daemonizing the supervisord process")]
    if directory:
        try:
            os.chdir(directory)
        except OSError as error:
            messages.append(("critical", f"can't chdir into {directory!r}: {error}"))
        else:
            messages.append(("info", f"set current directory: {directory!r}"))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the daemon
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    os.setsid()
    os.umask(umask)
    return messages
