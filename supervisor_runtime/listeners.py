"""Binding the daemon's control sockets ([unix_http_server], [inet_http_server]).

Binding happens before daemonizing and before any child is spawned, so a
second supervisord configured with the same socket refuses to start and leaves
the first one alone. A unix socket file left behind by a dead daemon is
detected (nobody answers a connect) and replaced.
"""

from __future__ import annotations

import _socket as socket  # not the socket module's enums: see rpc/http.py
import errno
import os

from supervisor_runtime.static_types import NamedTuple

from .config.model import SupervisordConfig
from .daemon import StartupError

IN_USE = (
    "Another program is already listening on a port that one of our HTTP servers is "
    "configured to use.  Shut this program down first before starting supervisord."
)


class Listener(NamedTuple):
    kind: str  # "unix_http_server" or "inet_http_server"
    sock: socket.socket
    path: str | None = None  # unix socket file, unlinked at exit

    def close(self) -> None:
        self.sock.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _unix_socket_in_use(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _bind_unix(path: str, mode: int, owner: tuple[int, int] | None) -> Listener:
    if os.path.exists(path):
        if _unix_socket_in_use(path):
            raise StartupError(IN_USE)
        os.unlink(path)  # stale: its daemon died without cleaning up
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Bind under a temporary name, fix mode and owner, then rename: the
        # socket is never reachable with looser permissions than configured.
        temporary = f"{path}.{os.getpid()}.tmp"
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        sock.bind(temporary)
        os.chmod(temporary, mode)
        if owner is not None:
            os.chown(temporary, *owner)
        os.rename(temporary, path)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise StartupError(_bind_error(error)) from None
    sock.setblocking(False)
    return Listener("unix_http_server", sock, path)


def _bind_inet(host: str, port: int) -> Listener:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise StartupError(_bind_error(error)) from None
    sock.setblocking(False)
    return Listener("inet_http_server", sock)


def _bind_error(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return IN_USE
    name = errno.errorcode.get(error.errno or 0)
    prefix = "Cannot open an HTTP server: socket.error reported"
    return f"{prefix} errno.{name} ({error.errno})" if name else f"{prefix} {error}"


def open_listeners(config: SupervisordConfig) -> list[Listener]:
    listeners: list[Listener] = []
    try:
        if config.inet_http_server is not None:
            inet = config.inet_http_server
            listeners.append(_bind_inet(inet.host, inet.port))
        if config.unix_http_server is not None:
            unix = config.unix_http_server
            listeners.append(_bind_unix(unix.file, unix.chmod, unix.chown))
    except StartupError:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners: list[Listener]) -> None:
    for listener in listeners:
        listener.close()
