"""Who sent a control request, for the restart history (history.py): on the unix socket
the kernel's word (SO_PEERCRED: the caller's pid and uid, which it cannot forge), on the
inet socket the user name it authenticated with (and its address)."""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

from ..history import Requester

if TYPE_CHECKING:
    from .auth import BasicAuth  # loaded only by a server with a login (rpc/server.py)
    from .http import Request, Responder


def requester_of(request: Request, responder: Responder, auth: BasicAuth | None) -> Requester:
    # The request passed authentication already: with a login, its user is the server's.
    user = auth.username if auth is not None else None
    if request.server_kind == "unix_http_server":
        credentials = responder.peer_credentials()
        if credentials is None:
            return Requester("unix", user=user)
        pid, uid, _gid = credentials
        return Requester("unix", uid=uid, pid=pid, user=user)
    return Requester("inet", user=user, peer=request.peer)
