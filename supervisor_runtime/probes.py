"""One probe of a readiness or liveness check, run without ever blocking the loop.

Socket kinds (tcp, unix, http) use a non-blocking socket on the daemon's own loop: the
connect, the request and the status line are each a readiness callback, and a timer ends
the probe at its timeout. The command kind runs as a child process (like the program
itself: its user, directory and environment), reaped by the daemon with its own
children; at the timeout its process group gets SIGKILL. Nothing here can hang the daemon:
no thread, no blocking call, no name lookup (hosts are IP addresses, see config.checks).
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import _socket as socket  # not the socket module's enums: see rpc/http.py
import errno
import os
import sys
from collections.abc import Callable

from supervisor_runtime.static_types import Protocol

from .config.check_model import CheckConfig
from .loop import EventLoop, TimerHandle
from .signals import decode_wait_status
from .spawnerror import SpawnError

# done(ok, detail): detail says what failed ("connection refused", "status 500"...).
Done = Callable[[bool, str], None]
MAX_STATUS_LINE = 4096  # bytes read at most while looking for the HTTP status line
OUTPUT_KEPT = 200  # bytes of a check command's output kept for the failure's detail

# Connects to a unix socket as the program's user (see start_probe).
_UNIX_CONNECT = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX)\n"
    "s.settimeout(float(sys.argv[2]))\n"
    "s.connect(sys.argv[1])\n"
)


class Probe(Protocol):
    def cancel(self) -> None: ...


class HelperSpawner(Protocol):
    """Starts a check command as the program would run (Supervisor.spawn_helper)."""

    def __call__(self, command: str, on_exit: Callable[[int], None]) -> tuple[int, int | None]: ...


def start_probe(
    loop: EventLoop,
    check: CheckConfig,
    done: Done,
    spawn_helper: HelperSpawner,
    as_other_user: bool,
) -> Probe:
    """Start one probe of ``check``; ``done`` is called once, from the loop, unless the
    probe is cancelled first. ``as_other_user``: the program runs as a user other than
    the daemon's, so a unix socket path it may control is connected to as that user, in
    a child process, never by the daemon (which may be root)."""
    if check.kind == "command":
        return CommandProbe(loop, check.command, check.timeout, done, spawn_helper)
    if check.kind == "unix" and as_other_user:
        import shlex  # this case only: not kept by every daemon

        argv = [sys.executable, "-I", "-c", _UNIX_CONNECT, check.path, str(check.timeout)]
        return CommandProbe(loop, shlex.join(argv), check.timeout, done, spawn_helper)
    return SocketProbe(loop, check, done)


class SocketProbe:
    """A connect (tcp, unix), and for http a GET whose status line is checked."""

    def __init__(self, loop: EventLoop, check: CheckConfig, done: Done) -> None:
        self.loop = loop
        self.check = check
        self._done: Done | None = done
        self._received = b""
        if check.kind == "unix":
            family, address = socket.AF_UNIX, check.path
        else:
            family = socket.AF_INET6 if ":" in check.host else socket.AF_INET
            address = (check.host, check.port)
        self.sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        self.fd = self.sock.fileno()
        self._timer: TimerHandle | None = loop.call_later(check.timeout, self._timed_out)
        code = self.sock.connect_ex(address)
        if code in (0, errno.EINPROGRESS):
            loop.add_writer(self.fd, self._connected)
        else:
            # Reported from the loop, as every other outcome: never inside the caller.
            loop.call_soon(lambda: self._finish(False, _connect_error(code)))

    def cancel(self) -> None:
        self._done = None
        self._close()

    def _connected(self) -> None:
        self.loop.remove_writer(self.fd)
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._finish(False, _connect_error(code))
            return
        if self.check.kind != "http":
            self._finish(True, "connected")
            return
        host = self.check.host if ":" not in self.check.host else f"[{self.check.host}]"
        request = (
            f"GET {self.check.path} HTTP/1.0\r\nHost: {host}:{self.check.port}\r\n"
            "User-Agent: supervisor_runtime-check\r\nConnection: close\r\n\r\n"
        ).encode("latin-1", "replace")
        try:
            # A fresh socket's buffer takes a request this small whole.
            sent = self.sock.send(request)
        except OSError as error:
            self._finish(False, f"sending the request failed: {error.strerror}")
            return
        if sent != len(request):
            self._finish(False, "the request could not be sent whole")
            return
        self.loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(MAX_STATUS_LINE)
        except BlockingIOError:
            return
        except OSError as error:
            self._finish(False, f"reading the answer failed: {error.strerror}")
            return
        self._received += data
        line, found, _ = self._received.partition(b"\r\n")
        if not found and data and len(self._received) < MAX_STATUS_LINE:
            return  # more to come
        self._finish(*_judge_status(line, self.check.statuses))

    def _timed_out(self) -> None:
        self._timer = None
        waited = "answer" if self._received or self.check.kind == "http" else "connection"
        self._finish(False, f"no {waited} within {self.check.timeout:g}s")

    def _finish(self, ok: bool, detail: str) -> None:
        done, self._done = self._done, None
        self._close()
        if done is not None:
            done(ok, detail)

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sock.fileno() != -1:
            self.loop.remove_reader(self.fd)
            self.loop.remove_writer(self.fd)
            self.sock.close()


def _connect_error(code: int) -> str:
    if code == errno.EAGAIN:
        return "the socket's listen queue is full"
    return os.strerror(code).lower()


def _judge_status(line: bytes, expected: tuple[int, ...]) -> tuple[bool, str]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        shown = line[:80].decode("latin-1")
        return False, f"not an HTTP answer: {shown!r}" if line else "closed without an answer"
    status = int(parts[1])
    if status in expected:
        return True, f"status {status}"
    return False, f"status {status}, expected {','.join(map(str, expected))}"


class CommandProbe:
    """A check command: success is exit status 0 within the timeout."""

    def __init__(
        self,
        loop: EventLoop,
        command: str,
        timeout: float,
        done: Done,
        spawn_helper: HelperSpawner,
    ) -> None:
        self.loop = loop
        self.timeout = timeout
        self._done: Done | None = done
        self._output = b""
        self._timed_out = False
        self._timer: TimerHandle | None = None
        self.pid = 0
        self._fd: int | None = None
        try:
            self.pid, self._fd = spawn_helper(command, self._exited)
        except SpawnError as error:  # say why, as a failed probe
            detail = f"could not run the check: {error}"
            loop.call_soon(lambda: self._report(False, detail))
            return
        if self._fd is not None:
            loop.add_reader(self._fd, self._read)
        self._timer = loop.call_later(timeout, self._kill)

    def cancel(self) -> None:
        self._done = None
        self._kill()

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_output()
            return
        self._output = (self._output + data)[-OUTPUT_KEPT:]

    def _close_output(self) -> None:
        if self._fd is not None:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    def _kill(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.pid and not self._timed_out:
            self._timed_out = True
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the check leads its own group
            except ProcessLookupError:
                pass

    def _exited(self, status: int) -> None:
        """Called by the daemon's reaper with the check's wait status."""
        self.pid = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd is not None:
            self._read()  # what it wrote last is in the pipe already
            self._close_output()
        if self._timed_out:
            self._report(False, f"no answer within {self.timeout:g}s")
            return
        code, description = decode_wait_status(status)
        if code == 0:
            self._report(True, "exit status 0")
            return
        output = self._output.decode("utf-8", "replace").strip().splitlines()
        last = f": {output[-1]}" if output else ""
        self._report(False, f"the check {description}{last}")

    def _report(self, ok: bool, detail: str) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(ok, detail)
