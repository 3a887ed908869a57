"""Is the process behind an app's control socket really that app's runtime?

The socket file lives in the app's ``run/``, which the tenant owns: it can replace it with a
link to another tenant's socket, or to the host runtime's. So the platform never trusts the
path; once connected, it asks the kernel who is at the other end (SO_PEERCRED) and talks on
only if that is the app's own user, and, for a container, the container's PID 1 (found in
the app's cgroup, which only root can change). Anything else is refused before a byte of the
request is sent.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from workers.container.cgroups import Cgroup
from workers.container.enter import is_namespace_init

_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class PeerRefused(Exception):
    """The control socket is not the app's runtime's; the message says so without naming
    what is behind it (a tenant reads job errors)."""


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process that made the other end of ``sock``."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    pid, uid, gid = _CREDENTIALS.unpack(raw)
    return pid, uid, gid


def expect_runtime(app: str, uid: int, cgroup: Cgroup | None) -> Callable[[socket.socket], None]:
    """A ``check_peer`` for the ctl client: the peer runs as ``uid`` and, when ``cgroup`` is
    given, is PID 1 of the container in it."""

    def check(sock: socket.socket) -> None:
        pid, peer_uid, _gid = peer_credentials(sock)
        in_container = cgroup is None or (cgroup.contains(pid) and is_namespace_init(pid))
        if peer_uid != uid or not in_container:
            raise PeerRefused(f"the control socket of {app} is not its runtime's; refusing it")

    return check
