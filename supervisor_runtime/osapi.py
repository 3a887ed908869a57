"""The OS layer: the only code that forks, execs, signals and reaps.

A child that runs as the daemon's own user (every program but those with a ``user=`` of
their own) is started with ``os.posix_spawn``: no Python code between the request and the
kernel, 0.67 ms a child where ``subprocess.Popen`` takes 0.9 ms. Its ``directory=`` and
``umask=`` are set in the daemon around the call, which the child inherits (the daemon is
single-threaded; both are put back at once): so ``subprocess`` (with ``threading``,
``selectors``, ``signal``, ``locale``: 0.6 MiB) is not imported by a tenant runtime, whose
programs all have a directory. A child with a user of its own uses ``subprocess.Popen``
without ``preexec_fn``, so setgid/setgroups/setuid, umask, chdir and setpgid still happen
in C (with vfork where CPython can), which is both faster and safer than doing them in
Python in the child. Popen closes every inherited descriptor in the child; posix_spawn cannot,
so ``protect_inherited_fds`` marks the ones the daemon was started with close-on-exec
(everything the daemon opens itself already is). Reaping is ``waitpid(-1, WNOHANG)``
until nothing is left, so every exited child, ours or adopted (as PID 1), is collected
at once.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import errno
import functools
import os
import stat
from collections.abc import Mapping, Sequence

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple

from .config.cmdline import split_command
from .spawnerror import SpawnError

if TYPE_CHECKING:
    import subprocess


class ExecFailed(SpawnError):
    """The child was forked but could not chdir, setuid or exec.

    supervisord's forked child reports these on its own stderr, so they end up
    in the program's log as well as in spawnerr.
    """


class ChildPipes:
    """The parent's ends of a child's standard streams (non-blocking); each becomes None
    once closed."""

    __slots__ = ("stdin", "stdout", "stderr")

    def __init__(self, stdin: int | None, stdout: int | None, stderr: int | None) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr  # None when stderr is redirected into stdout

    def fds(self) -> list[int]:
        return [fd for fd in (self.stdin, self.stdout, self.stderr) if fd is not None]


class SpawnRequest(NamedTuple):
    command: str
    path: Sequence[str]  # directories searched for a bare command name
    environment: Mapping[str, str]
    directory: str | None = None
    umask: int | None = None
    uid: int | None = None
    redirect_stderr: bool = False
    stdin_fd: int | None = None  # use this fd as stdin instead of a pipe (fcgi sockets)


class SpawnedChild(NamedTuple):
    pid: int
    pipes: ChildPipes
    # Kept so CPython does not reap the child behind our back (see release());
    # None for a child started by posix_spawn, which nobody but us reaps.
    popen: subprocess.Popen[bytes] | None


@functools.lru_cache(maxsize=4096)
def _split_command(command: str) -> tuple[str, ...]:
    """shlex.split's words (in linear time), remembered: a program's command line is split
    again at every spawn."""
    return tuple(split_command(command))


def resolve_command(command: str, path: Sequence[str]) -> tuple[str, list[str]]:
    """The file to exec and its argv, checked as supervisord checks them."""
    try:
        argv = list(_split_command(command))
    except ValueError as error:
        raise SpawnError(f"can't parse command {command!r}: {error}") from None
    if not argv:
        raise SpawnError("command is empty")
    program = argv[0]
    filename = program
    st: os.stat_result | None = None
    if "/" in program:
        try:
            st = os.stat(program)
        except (OSError, ValueError):  # ValueError: a NUL byte (refused at load already)
            st = None
    else:
        for directory in path:
            candidate = os.path.join(directory, program)
            try:
                st = os.stat(candidate)
            except (OSError, ValueError):
                continue
            filename = candidate
            break
    if st is None:
        raise SpawnError(f"can't find command {filename!r}")
    if stat.S_ISDIR(st.st_mode):
        raise SpawnError(f"command at {filename!r} is a directory")
    if not stat.S_IMODE(st.st_mode) & 0o111:
        raise SpawnError(f"command at {filename!r} is not executable")
    if not os.access(filename, os.X_OK):
        raise SpawnError(f"no permission to run command {filename!r}")
    return filename, argv


def _user_identity(uid: int) -> tuple[int, list[int]]:
    """The primary gid and supplementary groups a child running as ``uid`` gets."""
    import grp  # only for user=: not kept by every daemon
    import pwd

    try:
        record = pwd.getpwuid(uid)
    except KeyError:
        raise SpawnError(f"couldn't setuid to {uid}: Can't find uid {uid!r}") from None
    groups = [g.gr_gid for g in grp.getgrall() if record.pw_name in g.gr_mem]
    if record.pw_gid not in groups:
        groups.insert(0, record.pw_gid)
    return record.pw_gid, groups


def _pipe() -> tuple[int, int]:
    return os.pipe2(os.O_CLOEXEC)


def spawn(request: SpawnRequest) -> SpawnedChild:
    """Start a child in its own process group; raises SpawnError with a spawnerr text."""
    filename, argv = resolve_command(request.command, request.path)
    user_kwargs: dict[str, object] = {}
    if request.uid is not None and request.uid != os.getuid():
        if os.getuid() != 0:
            raise SpawnError(
                f"couldn't setuid to {request.uid}: Can't drop privilege as nonroot user"
            )
        gid, groups = _user_identity(request.uid)
        user_kwargs = {"user": request.uid, "group": gid, "extra_groups": groups}

    opened: list[int] = []
    try:
        if request.stdin_fd is None:
            stdin_child, stdin_parent = _pipe()
            opened += [stdin_child, stdin_parent]
        else:
            stdin_child, stdin_parent = request.stdin_fd, -1
        stdout_parent, stdout_child = _pipe()
        opened += [stdout_parent, stdout_child]
        if request.redirect_stderr:
            stderr_parent, stderr_child = None, stdout_child
        else:
            stderr_parent, stderr_child = _pipe()
            opened += [stderr_parent, stderr_child]
    except OSError as error:
        _close_all(opened)
        if error.errno == errno.EMFILE:
            raise SpawnError("too many open files to spawn") from None
        code = errno.errorcode.get(error.errno or 0)
        raise SpawnError(f"unknown error making dispatchers: {code}") from None

    try:
        pid, popen = _start_child(
            filename, argv, request, user_kwargs, stdin_child, stdout_child, stderr_child
        )
    except OSError as error:
        _close_all(opened)
        raise ExecFailed(_exec_failure_text(error, request, argv[0])) from None
    except ExecFailed:
        _close_all(opened)
        raise
    except (ValueError, TypeError) as error:  # e.g. a NUL byte in the command or environment
        _close_all(opened)
        raise SpawnError(f"can't spawn {argv[0]}: {error}") from None

    # The child has its copies; close ours of the child's ends.
    child_ends = {stdout_child}
    if stderr_child is not None:
        child_ends.add(stderr_child)
    if request.stdin_fd is None:
        child_ends.add(stdin_child)
    _close_all(sorted(child_ends))
    parent_fds = [fd for fd in (stdin_parent, stdout_parent, stderr_parent) if fd not in (None, -1)]
    for fd in parent_fds:
        os.set_blocking(fd, False)
    pipes = ChildPipes(
        stdin=stdin_parent if stdin_parent != -1 else None,
        stdout=stdout_parent,
        stderr=stderr_parent,
    )
    return SpawnedChild(pid=pid, pipes=pipes, popen=popen)


# Signals Python starts up ignoring; a child must get them back at their defaults.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def _start_child(
    filename: str,
    argv: list[str],
    request: SpawnRequest,
    user_kwargs: dict[str, object],
    stdin: int,
    stdout: int,
    stderr: int,
) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Fork and exec the child in its own process group; (pid, Popen or None)."""
    if not user_kwargs:
        return _posix_spawn(filename, argv, request, stdin, stdout, stderr), None
    import subprocess  # only for children with a user of their own

    try:
        popen = subprocess.Popen(
            argv,
            executable=filename,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=request.directory,
            env=dict(request.environment),
            umask=-1 if request.umask is None else request.umask,
            process_group=0,
            close_fds=True,
            restore_signals=True,
            **user_kwargs,  # type: ignore[arg-type]
        )
    except subprocess.SubprocessError as error:
        raise ExecFailed(f"couldn't exec {argv[0]}: {error}") from None
    return popen.pid, popen


def _posix_spawn(
    filename: str, argv: list[str], request: SpawnRequest, stdin: int, stdout: int, stderr: int
) -> int:
    """posix_spawn in the request's directory and with its umask: both set in the daemon
    for the call (the child inherits them) and put back, also when it fails. A directory
    that cannot be entered raises OSError naming it, as Popen's ``cwd`` did."""
    home = None
    if request.directory is not None:
        # Back by descriptor: the daemon's directory need not be readable, nor named.
        home = os.open(".", os.O_PATH | os.O_CLOEXEC)
    mask = None
    try:
        if request.directory is not None:
            os.chdir(request.directory)
        if request.umask is not None:
            mask = os.umask(request.umask)
        return os.posix_spawn(
            filename,
            argv,
            request.environment,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin, 0),
                (os.POSIX_SPAWN_DUP2, stdout, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
            ],
            setpgroup=0,  # each child leads its own group: our signals are not its
            setsigdef=_RESET_SIGNALS,
        )
    finally:
        if mask is not None:
            os.umask(mask)
        if home is not None:
            os.fchdir(home)
            os.close(home)


def protect_inherited_fds() -> None:
    """Mark close-on-exec every descriptor above 2 the daemon was started with.

    Whatever the daemon opens itself is close-on-exec already (Python's default), so
    after this no child started by posix_spawn inherits anything but its three pipes.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: try every descriptor the limit allows (up to 64 Ki)
        limit = os.sysconf("SC_OPEN_MAX")
        names = [str(fd) for fd in range(3, min(limit if limit > 0 else 1024, 65536))]
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # closed meanwhile (the listing's own descriptor)


def _exec_failure_text(error: OSError, request: SpawnRequest, program: str) -> str:
    """supervisord's words for a child that could not get to exec.

    chdir (ours, or Popen's for a user of its own) names the directory and exec the
    executable; a failure with no file name came from switching user.
    """
    code = errno.errorcode.get(error.errno or 0, str(error.errno))
    failed_on = getattr(error, "filename", None)
    if request.directory is not None and failed_on == request.directory:
        return f"couldn't chdir to {request.directory}: {code}"
    if failed_on is None and request.uid is not None:
        return f"couldn't setuid to {request.uid}: {error.strerror}"
    return f"couldn't exec {program}: {code}"


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def release(child: SpawnedChild, status: int) -> None:
    """Tell Popen its child was reaped by us, so it never waits on the pid itself."""
    if child.popen is not None:
        child.popen.returncode = status


def kill(pid: int, sig: int) -> None:
    """Signal a pid, or a whole process group when ``pid`` is negative."""
    if pid < 0:
        os.killpg(-pid, sig)
    else:
        os.kill(pid, sig)


def reap() -> list[tuple[int, int]]:
    """Every exited child as (pid, wait status); never blocks."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped.append((pid, status))
    return reaped
