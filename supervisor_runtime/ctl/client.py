"""An XML-RPC client for supervisord over ``unix://`` or ``http://`` server URLs.

One ``ServerProxy`` keeps one HTTP/1.1 connection open for all its calls (stock supervisorctl
opens a new one per command), reconnecting once if the server dropped an idle connection.
Usable as a library::

    proxy = connect("unix:///srv/run/supervisor.sock")
    infos = proxy.supervisor.getAllProcessInfo()

Faults arrive as ``xmlrpc.client.Fault`` and HTTP errors (401 and the like) as
``xmlrpc.client.ProtocolError``, exactly what a stdlib ``ServerProxy`` would raise, so code
written against either works with both. The wire work is ours (``httpclient`` and
``rpc.response``), and ``xmlrpc.client`` is imported only when one of its exceptions is
raised or named: it drags in ``http.client``, ``email`` and ``ssl``, 20 ms of start-up that
``supervisorctl status`` would otherwise pay on every run. In this package, write
``except client.Fault`` (a lazy attribute of this module) rather than importing it.
A server that cannot be reached raises ``ServerUnreachable`` (an ``OSError`` carrying the
errno of the underlying failure). Values come back as ``xmlrpc.client.loads(...,
use_builtin_types=True)`` gives them (base64 as ``bytes``), except that a dateTime.iso8601
value stays its text: supervisord never sends one.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from supervisor_runtime.ctl.httpclient import (
    Connection,
    RemoteDisconnected,
    Response,
    ServerUnreachable,
    check_serverurl,
)
from supervisor_runtime.rpc.marshal import encode_call
from supervisor_runtime.rpc.response import FaultResponse, decode_response

if TYPE_CHECKING:
    from xmlrpc.client import Fault, ProtocolError

__all__ = [
    "Fault",
    "LogStream",
    "LogStreamError",
    "ProtocolError",
    "ServerProxy",
    "ServerUnreachable",
    "Transport",
    "check_serverurl",
    "connect",
]

RPC_PATH = "/RPC2"
USER_AGENT = "supervisor_runtime supervisorctl"
# supervisorctl 4.3.0 names every RPC endpoint "127.0.0.1/RPC2" in ProtocolError messages,
# whatever the real server URL is; the message is user-visible (`error: ... 401
# Unauthorized`), so we say the same thing.
PROTOCOL_ERROR_URL = "127.0.0.1" + RPC_PATH

# Errors that mean "the server closed the kept-alive connection before our request".
_STALE_CONNECTION_ERRORS = (
    RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


def __getattr__(name: str) -> Any:
    """``Fault`` and ``ProtocolError``: xmlrpc.client's own classes, imported on first use."""
    if name in ("Fault", "ProtocolError"):
        import xmlrpc.client

        return getattr(xmlrpc.client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class Transport:
    """Sends XML-RPC requests over one persistent HTTP/1.1 connection."""

    def __init__(
        self,
        serverurl: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
        check_peer: Callable[[socket.socket], None] | None = None,
        max_response: int | None = None,
    ) -> None:
        check_serverurl(serverurl)
        self.serverurl = serverurl
        self.username = username
        self.password = password
        self.timeout = timeout
        self.check_peer = check_peer
        self.max_response = max_response
        self._conn: Connection | None = None
        self._used = False  # whether _conn has already carried a request

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def abort(self) -> None:
        """End a call in progress from another thread (a deadline): it raises OSError."""
        conn = self._conn
        if conn is not None:
            conn.abort()

    def headers(self, body_length: int) -> dict[str, str]:
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "text/xml",
            "Accept": "text/xml",
            "Content-Length": str(body_length),
        }
        # Like stock, credentials are sent only when both are configured.
        if self.username is not None and self.password is not None:
            headers["Authorization"] = basic_auth_header(self.username, self.password)
        return headers

    def call(self, method: str, params: tuple[Any, ...]) -> Any:
        """Invoke ``method``; its single return value, or Fault / ProtocolError."""
        data = self._post(encode_call(method, params))
        try:
            return decode_response(data)
        except FaultResponse as fault:
            from xmlrpc.client import Fault

            raise Fault(fault.code, fault.text) from None

    def _post(self, body: bytes) -> bytes:
        reused = self._conn is not None and self._used
        try:
            return self._post_once(body)
        except _STALE_CONNECTION_ERRORS:
            self.close()
            if not reused:
                raise
        # The server closed the idle connection (e.g. after a reload): one fresh try.
        return self._post_once(body)

    def _post_once(self, body: bytes) -> bytes:
        if self._conn is None:
            conn = Connection(self.serverurl, self.timeout, self.check_peer)
            conn.open()
            self._conn, self._used = conn, False
        conn = self._conn
        self._used = True
        try:
            response = conn.request("POST", RPC_PATH, self.headers(len(body)), body)
            data = response.read(self.max_response)
        except BaseException:
            self.close()
            raise
        if response.status != 200:
            self.close()
            from xmlrpc.client import ProtocolError

            raise ProtocolError(
                PROTOCOL_ERROR_URL, response.status, response.reason, dict(response.headers)
            )
        if response.will_close:
            self.close()
        return data


class _Method:
    """``proxy.supervisor.getState`` : a dotted name that calls when called."""

    def __init__(self, transport: Transport, name: str) -> None:
        self._transport = transport
        self._name = name

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Method(self._transport, f"{self._name}.{name}")

    def __call__(self, *params: Any) -> Any:
        return self._transport.call(self._name, params)

    def __repr__(self) -> str:
        return f"<XML-RPC method {self._name}>"


class ServerProxy:
    """``proxy.<namespace>.<method>(*params)`` over one kept-alive connection."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    @property
    def transport(self) -> Transport:
        return self._transport

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self._transport, name)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> ServerProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    serverurl: str,
    username: str | None = None,
    password: str | None = None,
    *,
    timeout: float | None = None,
    check_peer: Callable[[socket.socket], None] | None = None,
    max_response: int | None = None,
) -> ServerProxy:
    """A proxy for the supervisord at ``serverurl``; it connects on its first call.
    ``check_peer`` sees every new unix socket before it is used, and may refuse it by
    raising (the exception reaches the caller as it is); ``max_response`` caps the size of
    an answer (BadResponse past it), for servers not to be trusted with our memory.

    ValueError for a URL that is neither unix:// nor http://.
    """
    transport = Transport(serverurl, username, password, timeout, check_peer, max_response)
    return ServerProxy(transport)


class LogStreamError(Exception):
    """The server answered a log tail request with a non-200 status."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url} Cannot read, status code {status}")
        self.url = url
        self.status = status


class LogStream:
    """A GET of /logtail/<name>/<channel> or /mainlogtail, read as the data arrives.

    Lives on a connection of its own so RPC calls can go on beside it (``fg``).
    """

    def __init__(
        self,
        serverurl: str,
        path: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.url = serverurl + path
        self.path = path
        self._username = username
        self._password = password
        self._conn = Connection(serverurl, timeout)
        self._response: Response | None = None
        self.closed = False

    def open(self) -> None:
        """Connect and send the request; ServerUnreachable or LogStreamError on failure."""
        headers = {"Accept": "*/*", "User-Agent": USER_AGENT}
        # Stock's streaming client sends credentials whenever a password is set.
        if self._password:
            headers["Authorization"] = basic_auth_header(self._username or "", self._password)
        response = self._conn.request("GET", self.path, headers)
        if response.status != 200:
            self.close()
            raise LogStreamError(self.url, response.status)
        self._response = response

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """Bytes as they come until the server ends the response (or close() is called)."""
        if self.closed:
            return  # closed (by fg's other thread) before reading began: never reconnect
        if self._response is None:
            self.open()
        response = self._response
        assert response is not None
        try:
            yield from response.chunks(size)
        except Exception:
            # close() from another thread (fg) breaks the read in any of several ways.
            if self.closed:
                return
            raise

    def close(self) -> None:
        self.closed = True
        sock = self._conn.sock
        if sock is not None:
            # shutdown() wakes a thread blocked in recv on this socket; close() alone won't.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()
