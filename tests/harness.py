"""End-to-end harness: run a supervisord (ours or stock 4.3.0) on a config in a temp dir.

The same test runs against both implementations (`impl` is "stock" or "ours"), observing only
what a user can see: the main log's wording, child log files, and the children themselves
through /proc. Waiting is always a poll with a deadline (`wait_until`), never a bare sleep.

Every daemon gets a unique marker in its environment (E2E_MARK=<token>); its children inherit
it, so cleanup can find and kill every process a test started, even orphans whose parent died.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.stock import stock_bin

IMPLS = ("stock", "ours")
MARK_VAR = "E2E_MARK"
CHILD = Path(__file__).resolve().parent / "e2e" / "child.py"
PY = sys.executable


# ----------------------------------------------------------------------------- binaries


def impl_bin(impl: str, name: str) -> Path:
    """The command `name` (supervisord, supervisorctl, echo_supervisord_conf) of `impl`;
    stock's skips the test when it is not installed."""
    if impl == "stock":
        return stock_bin(name)
    if impl == "ours":
        return Path(sys.executable).parent / name
    raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS}")


def supervisord_bin(impl: str) -> Path:
    return impl_bin(impl, "supervisord")


def ours_only(impl: str, why: str) -> None:
    """Skip the stock run of a test where stock 4.3.0 is known to fall short of what we
    promise (`why` says how); the test still runs against ours."""
    if impl == "stock":
        pytest.skip(f"ours only: {why}")


def child_cmd(mode: str, *args: object) -> str:
    """A `command=` value running tests/e2e/child.py in `mode` (see its --help)."""
    return " ".join([PY, "-u", str(CHILD), mode, *(str(a) for a in args)])


# ----------------------------------------------------------------------------- configs


def ini_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        # environment=: KEY="value",... (values quoted so commas and spaces survive)
        return ",".join(f'{k}="{v}"' for k, v in value.items())
    return str(value)


def render_ini(sections: Mapping[str, Mapping[str, object]]) -> str:
    """INI text from {"program:app": {"command": "...", ...}, ...}, in the given order."""
    out = []
    for name, options in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{key}={ini_value(value)}" for key, value in options.items())
        out.append("")
    return "\n".join(out)


def supervisord_section(workdir: Path, **overrides: object) -> dict[str, object]:
    """A [supervisord] section keeping every file inside `workdir`; foreground by default.
    Creates workdir/childlogs, which supervisord requires to exist."""
    (workdir / "childlogs").mkdir(exist_ok=True)
    section: dict[str, object] = {
        "logfile": workdir / "supervisord.log",
        "pidfile": workdir / "supervisord.pid",
        "childlogdir": workdir / "childlogs",
        "nodaemon": True,
        "loglevel": "debug",
    }
    section.update(overrides)
    return {k: v for k, v in section.items() if v is not None}


def program(command: str, **options: object) -> dict[str, object]:
    """A [program:x] body with quick timings (startsecs=1, stopwaitsecs=1) unless overridden."""
    return {"command": command, "startsecs": 1, "stopwaitsecs": 1, **options}


def build_config(
    workdir: Path,
    programs: Mapping[str, Mapping[str, object]] | None = None,
    *,
    supervisord: Mapping[str, object] | None = None,
    extra: Mapping[str, Mapping[str, object]] | None = None,
    unix_socket: bool = False,
) -> str:
    """Config text: a [supervisord] section (defaults + `supervisord` overrides), optionally
    a [unix_http_server] at workdir/supervisor.sock, then `programs` ({"app": {...}} becomes
    [program:app]) and `extra` sections verbatim ({"group:web": {...}})."""
    sections: dict[str, Mapping[str, object]] = {
        "supervisord": supervisord_section(workdir, **dict(supervisord or {}))
    }
    if unix_socket:
        sections["unix_http_server"] = {"file": workdir / "supervisor.sock"}
        sections["rpcinterface:supervisor"] = {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        }
    for name, options in (programs or {}).items():
        sections[f"program:{name}"] = options
    sections.update(extra or {})
    return render_ini(sections)


# ----------------------------------------------------------------------------- /proc


def _read(path: str) -> str:
    with open(path, errors="replace") as f:
        return f.read()


def proc_stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, session, ...]."""
    stat = _read(f"/proc/{pid}/stat")
    return stat[stat.rindex(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        return proc_stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def children_of(pid: int) -> list[int]:
    """Live (non-zombie) direct children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = proc_stat_fields(int(entry))
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return sorted(found)


def proc_cmdline(pid: int) -> list[str]:
    return _read(f"/proc/{pid}/cmdline").rstrip("\0").split("\0")


def proc_environ(pid: int) -> dict[str, str]:
    """The environment `pid` was exec'd with."""
    env = {}
    for item in _read(f"/proc/{pid}/environ").split("\0"):
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    return env


def proc_cwd(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/cwd")


def proc_umask(pid: int) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError(f"no Umask: line in /proc/{pid}/status")


def proc_pgid(pid: int) -> int:
    return int(proc_stat_fields(pid)[2])


def marked_pids(token: str) -> list[int]:
    """Live processes whose environment carries E2E_MARK=<token> (a daemon and its tree)."""
    needle = f"{MARK_VAR}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if needle in environ.split(b"\0") and pid_alive(int(entry)):
            found.append(int(entry))
    return sorted(found)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy (returned); AssertionError naming
    `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def stays_true(predicate: Callable[[], Any], duration: float, what: str) -> None:
    """For negative checks ("is not restarted"): `predicate` must hold for `duration` seconds.
    The one place a fixed wait is the point; keep `duration` just above stock's 1 s tick."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert predicate(), f"stopped holding within {duration}s: {what}"
        time.sleep(0.05)


def wait_file(path: Path, timeout: float = 10) -> str:
    """Wait for `path` to exist with content, then return its text."""
    return wait_until(lambda: path.exists() and path.read_text(), timeout, f"file {path}")


# ----------------------------------------------------------------------------- the daemon


class Daemon:
    """One supervisord process on a config file in `workdir`.

    `conf` is config text, written to workdir/supervisord.conf (build it with build_config
    or by hand). The daemon's own stdout and stderr go to workdir/daemon.out; with
    `pipe_output` they go through a pipe (as under Docker) that a thread copies there.
    `wrapper` prefixes the command (e.g. unshare ...);
    `logfile` says where the main log is when the config or a flag moves it.
    """

    def __init__(
        self,
        impl: str,
        workdir: Path,
        conf: str | None,
        *,
        args: Iterable[str] = (),
        use_c: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        pipe_output: bool = False,
        wrapper: Iterable[str] = (),
        logfile: Path | None = None,
    ) -> None:
        self.impl = impl
        self.workdir = workdir
        self.conf_path = workdir / "supervisord.conf"
        if conf is not None:
            self.write_config(conf)
        self.token = uuid.uuid4().hex
        self.out_path = workdir / "daemon.out"
        self.logfile = logfile or workdir / "supervisord.log"
        wrapper = list(wrapper)
        self.wrapped = bool(wrapper)
        argv = [*wrapper, str(supervisord_bin(impl))]
        if use_c:
            argv += ["-c", str(self.conf_path)]
        argv += list(args)
        self.argv = argv
        full_env = dict(os.environ if env is None else env)
        full_env[MARK_VAR] = self.token
        self._out = open(self.out_path, "wb")  # noqa: SIM115 - closed in cleanup()
        stdout = subprocess.PIPE if pipe_output else self._out.fileno()
        # A session of its own: signals we send and Ctrl-C at a terminal stay apart.
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd or workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._copier: threading.Thread | None = None
        if pipe_output:
            self._copier = threading.Thread(target=self._copy_output, daemon=True)
            self._copier.start()

    def _copy_output(self) -> None:
        assert self.proc.stdout is not None and self._out is not None
        # read1 returns as soon as anything arrives, so the file follows the pipe closely.
        while chunk := self.proc.stdout.read1(65536):
            self._out.write(chunk)
            self._out.flush()

    # -- config and output

    def write_config(self, text: str) -> None:
        self.conf_path.write_text(text)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def mainlog_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output_text(self) -> str:
        """What the daemon wrote to its own stdout/stderr (when captured to daemon.out)."""
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 10, start: int = 0) -> re.Match[str]:
        """Wait until `pattern` (a regex) matches the main log from offset `start`."""
        regex = re.compile(pattern, re.MULTILINE)

        def found() -> re.Match[str] | None:
            match = regex.search(self.mainlog_text(), start)
            if match is None and self.returncode is not None:
                raise AssertionError(
                    f"{self.impl} supervisord exited ({self.returncode}) before logging "
                    f"{pattern!r}; main log:\n{self.mainlog_text()}\noutput:\n"
                    f"{self.output_text()}"
                )
            return match

        try:
            return wait_until(found, timeout, f"{pattern!r} in {self.logfile}")
        except AssertionError as exc:
            if "timed out" in str(exc):
                raise AssertionError(f"{exc}; main log so far:\n{self.mainlog_text()}") from None
            raise

    def spawned_pid(self, name: str, timeout: float = 10, start: int = 0) -> int:
        """Pid from the next `spawned: 'name' with pid N` line at or after `start`."""
        match = self.wait_log(rf"spawned: '{re.escape(name)}' with pid (\d+)", timeout, start)
        return int(match.group(1))

    def log_order(self, pattern: str) -> list[str]:
        """group(1) of each match of `pattern` in the main log, in order."""
        return [m.group(1) for m in re.finditer(pattern, self.mainlog_text())]

    # -- process control

    def daemon_pid(self) -> int:
        """The supervisord process itself: our child, or the child of a forking wrapper
        such as `unshare --fork` (which does not pass signals on)."""
        if self.wrapped:
            for pid in children_of(self.proc.pid):
                with contextlib.suppress(OSError):
                    if any("supervisord" in arg for arg in proc_cmdline(pid)):
                        return pid
        return self.proc.pid

    def signal(self, sig: int) -> None:
        os.kill(self.daemon_pid(), sig)

    def wait_exit(self, timeout: float = 10) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.impl} supervisord (pid {self.pid}) still running after {timeout}s; "
                f"main log:\n{self.mainlog_text()}"
            ) from None

    def stop(self, timeout: float = 10) -> int:
        """TERM, wait up to `timeout`, then KILL everything the daemon started. Idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_all()
        return self.proc.wait()

    def kill_all(self) -> None:
        """SIGKILL the daemon's session and every process carrying our marker."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in marked_pids(self.token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def leftover_pids(self) -> list[int]:
        """Live processes started by this daemon (directly or not), the daemon excluded."""
        return [p for p in marked_pids(self.token) if p != self.proc.pid]

    def cleanup(self) -> None:
        """Finalizer: stop the daemon, kill whatever survived it, close our files."""
        try:
            self.stop(timeout=5)
        finally:
            for pid in marked_pids(self.token):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if self._copier is not None:
                self._copier.join(5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._out.close()


# The `start_daemon` fixture's type: start_daemon(conf_text, **Daemon keyword arguments).
StartDaemon = Callable[..., Daemon]


@contextlib.contextmanager
def ours_on_socket(prefix: str, programs: Mapping[str, Mapping[str, object]]) -> Iterator[Daemon]:
    """Our runtime with ``programs`` and a unix control socket (``supervisor.sock`` in its
    workdir, a short path under /tmp), killed with its children and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    made = Daemon("ours", workdir=workdir, conf=build_config(workdir, programs, unix_socket=True))
    try:
        yield made
    finally:
        made.kill_all()
        made.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def processes_of(uid: int, argv: Iterable[str]) -> list[int]:
    """The pids of processes of ``uid`` whose command line is exactly ``argv``."""
    cmdline = b"".join(arg.encode() + b"\0" for arg in argv)
    found = []
    for entry in Path("/proc").iterdir():
        try:
            mine = entry.name.isdigit() and entry.stat().st_uid == uid
            if mine and (entry / "cmdline").read_bytes() == cmdline:
                found.append(int(entry.name))
        except OSError:
            continue
    return found
