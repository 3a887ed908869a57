"""An XML-RPC client for supervisord over ``unix://`` or ``http://`` server URLs.

One ``ServerProxy`` keeps one HTTP/1.1 connection open for all its calls (stock supervisorctl
opens a new one per command), reconnecting once if the server dropped an idle connection.
Usable as a library::

    proxy = connect("unix:///srv/run/supervisor.sock")
    infos = proxy.supervisor.getAllProcessInfo()

Faults arrive as ``xmlrpc.client.Fault`` and HTTP errors (401 and the like) as
``xmlrpc.client.ProtocolError``, exactly what a stdlib ``ServerProxy`` would raise, so code
written against either works with both. A server that cannot be reached raises
``ServerUnreachable`` (an ``OSError`` carrying the errno of the underlying failure).
"""

from __future__ import annotations

import base64
import http.client
import socket
import xmlrpc.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

RPC_PATH = "/RPC2"
USER_AGENT = "supervisor_runtime supervisorctl"
# supervisorctl 4.3.0 names every RPC endpoint "127.0.0.1/RPC2" in ProtocolError messages,
# whatever the real server URL is; the message is user-visible (`error: ... 401
# Unauthorized`), so we say the same thing.
PROTOCOL_ERROR_URL = "127.0.0.1" + RPC_PATH

# Errors that mean "the server closed the kept-alive connection before our request".
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class ServerUnreachable(ConnectionError):
    """Connecting to ``serverurl`` failed; ``errno`` and ``__cause__`` say why."""

    def __init__(self, serverurl: str, cause: OSError) -> None:
        super().__init__(cause.errno, f"cannot connect to {serverurl}: {cause}")
        self.serverurl = serverurl
        self.cause = cause


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix domain socket; the Host header says "localhost"."""

    def __init__(self, socket_path: str, timeout: float | None) -> None:
        if timeout is None:
            super().__init__("localhost")
        else:
            super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None and self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def check_serverurl(serverurl: str) -> None:
    """ValueError unless ``serverurl`` is a unix:// or http:// URL we can talk to."""
    if not serverurl.startswith(("unix://", "http://")):
        raise ValueError(f"Unknown protocol for serverurl {serverurl}")


def make_connection(serverurl: str, timeout: float | None = None) -> http.client.HTTPConnection:
    """An unopened HTTP connection to ``serverurl`` (unix://PATH or http://HOST[:PORT])."""
    check_serverurl(serverurl)
    if serverurl.startswith("unix://"):
        return _UnixHTTPConnection(serverurl[len("unix://") :], timeout)
    parts = urlsplit(serverurl)
    host = parts.hostname or "localhost"
    port = parts.port or 80
    if timeout is None:
        return http.client.HTTPConnection(host, port)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _open(conn: http.client.HTTPConnection, serverurl: str) -> None:
    """Connect explicitly, so connection failures are told apart from request failures."""
    try:
        conn.connect()
    except OSError as exc:
        conn.close()
        raise ServerUnreachable(serverurl, exc) from exc


class Transport:
    """Sends XML-RPC requests over one persistent HTTP/1.1 connection."""

    def __init__(
        self,
        serverurl: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
    ) -> None:
        check_serverurl(serverurl)
        self.serverurl = serverurl
        self.username = username
        self.password = password
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._used = False  # whether _conn has already carried a request

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
        body = xmlrpc.client.dumps(params, method).encode("utf-8")
        data = self._post(body)
        result, _ = xmlrpc.client.loads(data)  # raises Fault for a fault response
        return result[0] if len(result) == 1 else result

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
            conn = make_connection(self.serverurl, self.timeout)
            _open(conn, self.serverurl)
            self._conn, self._used = conn, False
        conn = self._conn
        self._used = True
        try:
            conn.request("POST", RPC_PATH, body, self.headers(len(body)))
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.status != 200:
            self.close()
            raise xmlrpc.client.ProtocolError(
                PROTOCOL_ERROR_URL, response.status, response.reason, dict(response.getheaders())
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
) -> ServerProxy:
    """A proxy for the supervisord at ``serverurl``; it connects on its first call.

    ValueError for a URL that is neither unix:// nor http://.
    """
    return ServerProxy(Transport(serverurl, username, password, timeout))


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
        self._serverurl = serverurl
        self._username = username
        self._password = password
        self._conn = make_connection(serverurl, timeout)
        self._response: http.client.HTTPResponse | None = None
        self.closed = False

    def open(self) -> None:
        """Connect and send the request; ServerUnreachable or LogStreamError on failure."""
        conn = self._conn
        _open(conn, self._serverurl)
        conn.putrequest("GET", self.path, skip_accept_encoding=True)
        conn.putheader("Accept", "*/*")
        conn.putheader("User-Agent", USER_AGENT)
        # Stock's streaming client sends credentials whenever a password is set.
        if self._password:
            conn.putheader("Authorization", basic_auth_header(self._username or "", self._password))
        conn.endheaders()
        response = conn.getresponse()
        if response.status != 200:
            self.close()
            raise LogStreamError(self.url, response.status)
        self._response = response

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """Bytes as they come until the server ends the response (or close() is called)."""
        if self._response is None:
            self.open()
        response = self._response
        assert response is not None
        while True:
            try:
                data = response.read1(size)
            except Exception:
                # close() from another thread (fg) breaks the read in any of several ways.
                if self.closed:
                    return
                raise
            if not data:
                return
            yield data

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
