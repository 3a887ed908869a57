"""Just enough HTTP/1.1 for supervisorctl: one request at a time on a kept-alive socket.

``http.client`` would do, but it imports ``email`` and ``ssl``: 20 ms on every
``supervisorctl status``, a third of our whole run. supervisord speaks plain HTTP over a
unix socket or TCP, so this module sends a request and reads the answer's status line,
headers and body (Content-Length, chunked, or up to the close), and nothing more.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import BinaryIO

MAX_HEAD_LINE = 65536
MAX_HEADERS = 100


class ServerUnreachable(ConnectionError):
    """Connecting to ``serverurl`` failed; ``errno`` and ``__cause__`` say why."""

    def __init__(self, serverurl: str, cause: OSError) -> None:
        super().__init__(cause.errno, f"cannot connect to {serverurl}: {cause}")
        self.serverurl = serverurl
        self.cause = cause


class BadResponse(OSError):
    """The server's answer is not HTTP we can read."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering (e.g. an idle kept-alive one)."""


def check_serverurl(serverurl: str) -> None:
    """ValueError unless ``serverurl`` is a unix:// or http:// URL we can talk to."""
    if not serverurl.startswith(("unix://", "http://")):
        raise ValueError(f"Unknown protocol for serverurl {serverurl}")


def _host_and_port(serverurl: str) -> tuple[str, int]:
    """("host", port) of http://host[:port][/...]; IPv6 literals in brackets."""
    netloc = serverurl[len("http://") :].split("/", 1)[0].rsplit("@", 1)[-1]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = netloc.partition(":")
    port = int(port_text) if port_text.isascii() and port_text.isdigit() else -1
    if not port_text:
        port = 80
    if not 0 < port <= 65535:
        raise ValueError(f"bad port in serverurl {serverurl}")
    return host or "localhost", port


class Response:
    """Status, headers, and a body read on demand from the connection."""

    def __init__(
        self, stream: BinaryIO, version: str, status: int, reason: str, headers: dict[str, str]
    ) -> None:
        self._stream = stream
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self._remaining: int | None = None  # bytes left of a Content-Length body
        self._chunked = False
        self._chunk_left = 0
        self.done = False
        self._frame_body()

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def will_close(self) -> bool:
        """Whether the server closes the connection after this response."""
        if self._remaining is None and not self._chunked:
            return True  # no framing: the body ends where the connection does
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in connection
        return "close" in connection

    def _frame_body(self) -> None:
        encoding = (self.header("Transfer-Encoding") or "").lower()
        length = self.header("Content-Length")
        if "chunked" in encoding:
            self._chunked = True
        elif length is not None:
            self._remaining = _decimal(length, "Content-Length")
            self.done = self._remaining == 0

    def read(self, limit: int | None = None) -> bytes:
        """The whole body; BadResponse past ``limit`` bytes (a server that is not to be
        trusted with our memory)."""
        if limit is None:
            return b"".join(self.chunks())
        parts, total = [], 0
        for part in self.chunks():
            total += len(part)
            if total > limit:
                raise BadResponse(f"the response is larger than {limit} bytes")
            parts.append(part)
        return b"".join(parts)

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The body as it arrives, in pieces of at most ``size`` bytes."""
        while not self.done:
            data = self._read_some(size)
            if data:
                yield data

    def _read_some(self, size: int) -> bytes:
        stream = self._stream
        if self._remaining is not None:
            data = stream.read(self._remaining) if self._remaining <= size else stream.read(size)
            if not data:
                raise BadResponse("the connection closed inside the response body")
            self._remaining -= len(data)
            self.done = self._remaining == 0
            return data
        if self._chunked:
            if self._chunk_left == 0:
                line = _read_line(stream, "chunk size line")
                digits = line.split(b";", 1)[0].strip()
                if not digits or digits.strip(b"0123456789abcdefABCDEF"):
                    raise BadResponse(f"bad chunk size line {line!r}")
                self._chunk_left = int(digits, 16)
                if self._chunk_left == 0:
                    _skip_trailers(stream)
                    self.done = True
                    return b""
            data = stream.read1(min(size, self._chunk_left))  # type: ignore[attr-defined]
            if not data:
                raise BadResponse("the connection closed inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and _read_line(stream, "chunk end") not in (b"\r\n", b"\n"):
                raise BadResponse("a chunk not followed by CRLF")
            return data
        data = stream.read1(size)  # type: ignore[attr-defined]
        self.done = not data  # no framing: the body ends when the server closes
        return data


def _decimal(text: str, what: str) -> int:
    """A non-negative decimal number in ASCII digits (str.isdigit also takes "²")."""
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        raise BadResponse(f"bad {what} {text!r}")
    return int(text)


def _read_line(stream: BinaryIO, what: str) -> bytes:
    """One line of the head (or of chunk framing); BadResponse if it is too long."""
    line = stream.readline(MAX_HEAD_LINE + 1)
    if len(line) > MAX_HEAD_LINE:
        raise BadResponse(f"a {what} longer than {MAX_HEAD_LINE} bytes")
    return line


def _skip_trailers(stream: BinaryIO) -> None:
    for _ in range(MAX_HEADERS + 1):  # the trailers, then the blank line that ends them
        if _read_line(stream, "trailer line") in (b"\r\n", b"\n", b""):
            return
    raise BadResponse("too many trailer lines")


class Connection:
    """One connection to a supervisord; opened by ``open``, reopened by the caller."""

    def __init__(
        self,
        serverurl: str,
        timeout: float | None = None,
        check_peer: Callable[[socket.socket], None] | None = None,
    ) -> None:
        check_serverurl(serverurl)
        self.serverurl = serverurl
        self.timeout = timeout
        # Called with each new unix socket once connected, before a byte is sent: it may
        # raise (e.g. when SO_PEERCRED names another user than the expected server's).
        self.check_peer = check_peer
        if serverurl.startswith("unix://"):
            self._unix_path: str | None = serverurl[len("unix://") :]
            self.host_header = "localhost"
        else:
            self._unix_path = None
            self._address = _host_and_port(serverurl)
            host, port = self._address
            host = f"[{host}]" if ":" in host else host
            self.host_header = host if port == 80 else f"{host}:{port}"
        self.sock: socket.socket | None = None
        self._stream: BinaryIO | None = None

    def open(self) -> None:
        """Connect; ServerUnreachable (with the OSError as its cause) on failure."""
        try:
            if self._unix_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self.timeout)
                    sock.connect(self._unix_path)
                except OSError:
                    sock.close()
                    raise
                if self.check_peer is not None:
                    try:
                        self.check_peer(sock)
                    except BaseException:
                        sock.close()
                        raise
            else:
                sock = socket.create_connection(self._address, self.timeout)
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    sock.close()
                    raise
        except OSError as exc:
            raise ServerUnreachable(self.serverurl, exc) from exc
        self.sock = sock
        self._stream = sock.makefile("rb")

    def abort(self) -> None:
        """Wake a thread blocked reading from this connection (safe from any thread)."""
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        """Send a request and read the answer's head; the body is read from the Response."""
        if self.sock is None or self._stream is None:
            self.open()
        assert self.sock is not None and self._stream is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.sendall(head + body)
        return self._read_head(self._stream)

    @staticmethod
    def _read_head(stream: BinaryIO) -> Response:
        line = _read_line(stream, "status line")
        if not line:
            raise RemoteDisconnected("the server closed the connection without a response")
        parts = line.decode("latin-1").rstrip("\r\n").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise BadResponse(f"bad status line {line!r}")
        status = _decimal(parts[1], "status code")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):  # the headers, then the blank line that ends them
            line = _read_line(stream, "header line")
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise BadResponse("the connection closed inside the response headers")
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise BadResponse(f"bad header line {line!r}")
            headers[name.strip()] = value.strip()
        else:
            raise BadResponse("too many response headers")
        reason = parts[2].strip() if len(parts) > 2 else ""
        return Response(stream, parts[0], status, reason, headers)
