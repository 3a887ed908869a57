"""A small non-blocking HTTP/1.1 server driven by the daemon's own EventLoop.

Every socket is non-blocking and every read or write happens only when the loop
says the fd is ready, so a slow or stalled client costs a buffer, never time:
process supervision and other clients go on. Requests on one connection are
answered strictly in order (pipelining-safe): while one response is pending
(an RPC that waits for a process to start, a log being followed) the requests
behind it stay in the input buffer, unparsed.

Limits: a request head of at most 64 KiB (431 beyond), a body of at most 2 MiB
(413), a connection idle for 60 s is closed, and one whose peer stops reading
a response is closed after the same time.
"""

from __future__ import annotations

# The C socket type the socket module subclasses: the socket module converts its constants
# into enums (hundreds of members) and imports selectors, 0.28 MiB of every daemon for
# conveniences the daemon does not use. Its accept() is accept() below.
import _socket as socket
import errno
import re
import sys
import time
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from ..loop import EventLoop, TimerHandle

if TYPE_CHECKING:
    from typing import Any

ACCEPT_RETRY_DELAY = 1.0  # seconds without accepting after EMFILE/ENFILE
MAX_HEAD = 64 * 1024
MAX_BODY = 2 * 1024 * 1024
IDLE_TIMEOUT = 60.0
MAX_CONNECTIONS = 512
READ_SIZE = 64 * 1024
# Stop reading from a busy connection once this much input is queued behind it.
MAX_QUEUED_INPUT = MAX_HEAD + MAX_BODY
# A streaming handler should wait while more than this is waiting to be sent.
STREAM_HIGH_WATER = 256 * 1024

REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(\d)\.(\d)$")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: float | None = None) -> str:
    """An RFC 9110 date (``Sun, 22 Nov 2026 02:34:00 GMT``), independent of the locale."""
    t = time.gmtime(when)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class HttpError(Exception):
    """A request the server refuses: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(f"{status} {why}")
        self.status = status
        self.why = why


def accept(listener: socket.socket) -> tuple[socket.socket, object]:
    """socket.socket.accept() for the C type: the connection, as a socket of the
    listener's family, type and protocol, and the client's address."""
    fd, address = listener._accept()
    return socket.socket(listener.family, listener.type, listener.proto, fd), address


class Request:
    """One parsed request. A plain class: ``dataclasses`` (and ``inspect`` with it) would
    cost every daemon its memory for this one record (docs/ARCHITECTURE.md)."""

    def __init__(
        self,
        method: str,
        target: str,
        version: tuple[int, int],
        headers: dict[str, str],
        body: bytes = b"",
        peer: str = "",
        server_kind: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.target = target  # as sent, e.g. "/logtail/app/stderr?x=1"
        self.version = version
        self.headers = headers  # lower-cased names; repeated headers joined with ", "
        self.body = body
        self.peer = peer
        self.server_kind = server_kind  # "unix_http_server" or "inet_http_server"
        self.extra: dict[str, Any] = {} if extra is None else extra

    @property
    def path(self) -> str:
        """The target's path, percent-decoded, without query or fragment."""
        path = self.target.split("#", 1)[0].split("?", 1)[0]
        return unquote(path) if "%" in path else path

    @property
    def query(self) -> str:
        before_fragment = self.target.split("#", 1)[0]
        return before_fragment.split("?", 1)[1] if "?" in before_fragment else ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def keep_alive(self) -> bool:
        connection = {t.strip().lower() for t in self.header("connection").split(",")}
        if self.version >= (1, 1):
            return "close" not in connection
        return "keep-alive" in connection


def unquote(text: str) -> str:
    """``urllib.parse.unquote``: each run of %XX escapes decoded as UTF-8 (invalid bytes
    replaced), anything else kept. Not imported from urllib: it brings ``ipaddress`` in,
    memory every daemon would keep for this one function."""
    if "%" not in text:  # as urllib's; and the pattern is compiled by the first path with %
        return text
    return re.sub(
        r"(?:%[0-9A-Fa-f]{2})+",
        lambda run: bytes.fromhex(run.group().replace("%", "")).decode("utf-8", "replace"),
        text,
    )


def parse_head(data: bytes | bytearray) -> tuple[Request | None, int]:
    """Parse a request head from the start of ``data``.

    Returns (request, bytes consumed including the blank line) or (None, 0) when the
    head is not complete yet. Empty lines before the request line are skipped (RFC
    9112 2.2; supervisorctl's log tail client sends a stray CRLF after each request).
    Raises HttpError for anything malformed or too large.
    """
    start = 0
    while data.startswith(b"\r\n", start) or data.startswith(b"\n", start):
        start += 2 if data.startswith(b"\r\n", start) else 1
    match = _HEAD_END.search(data, start)
    if match is None:
        if len(data) - start > MAX_HEAD:
            raise HttpError(431, "request head too large")
        # A request line that is already garbage need not wait for the rest.
        first_newline = data.find(b"\n", start)
        if first_newline != -1:
            _parse_request_line(bytes(data[start:first_newline]).rstrip(b"\r"))
        return None, 0
    if match.start() - start > MAX_HEAD:
        raise HttpError(431, "request head too large")
    lines = bytes(data[start : match.start()]).split(b"\n")
    method, target, version = _parse_request_line(lines[0].rstrip(b"\r"))
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "obsolete header line folding")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(400, "malformed header line")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        if key in headers:
            if key in ("content-length", "host", "authorization"):
                raise HttpError(400, f"repeated {key} header")
            headers[key] = f"{headers[key]}, {text}"
        else:
            headers[key] = text
    return Request(method, target, version, headers), match.end()


def _parse_request_line(line: bytes) -> tuple[str, str, tuple[int, int]]:
    match = _REQUEST_LINE.match(line)
    if match is None:
        raise HttpError(400, "malformed request line")
    method, target, major, minor = match.groups()
    if major != b"1":
        raise HttpError(505, "only HTTP/1.x is spoken here")
    try:
        target_text = target.decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, "non-ASCII request target") from None
    if not target_text.startswith("/"):
        raise HttpError(400, "request target must be a path")
    return method.decode("ascii"), target_text, (1, int(minor))


def body_length(request: Request) -> int:
    """The declared body size; requests with chunked bodies are refused (no client sends one)."""
    if "transfer-encoding" in request.headers:
        raise HttpError(501, "chunked request bodies are not supported")
    text = request.header("content-length", "0") or "0"
    if not text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(text)
    if length > MAX_BODY:
        raise HttpError(413, f"request body over {MAX_BODY} bytes")
    return length


def error_page(status: int, detail: str = "") -> bytes:
    reason = REASONS.get(status, "Error")
    extra = f"<p>{detail}</p>" if detail else ""
    return (
        f"<html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{status} {reason}</h1>{extra}</body></html>\n"
    ).encode()


Handler = Callable[[Request, "Responder"], None]


class Responder:
    """How a handler answers one request: once, now or later, whole or streamed."""

    def __init__(self, connection: Connection, request: Request) -> None:
        self._connection = connection
        self.request = request
        self.done = False
        self.streaming = False
        self.self_timed = False  # a stream that watches its reader itself: no idle timer
        self._abort_callbacks: list[Callable[[], None]] = []

    @property
    def alive(self) -> bool:
        """False once the client went away or the answer is complete."""
        return not self.done and not self._connection.closed

    def peer_credentials(self) -> tuple[int, int, int] | None:
        """(pid, uid, gid) of the client of a unix socket, as the kernel saw it connect
        (SO_PEERCRED); None on the inet socket or when the kernel will not say."""
        sock = self._connection.sock
        if sock.family != socket.AF_UNIX:
            return None
        try:
            data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        except OSError:
            return None
        # struct ucred: three native ints (no struct import for this alone).
        pid, uid, gid = (
            int.from_bytes(data[i : i + 4], sys.byteorder, signed=True) for i in (0, 4, 8)
        )
        return pid, uid, gid

    def on_abort(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if the connection closes before the answer is complete."""
        self._abort_callbacks.append(callback)

    def respond(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html",
        headers: list[tuple[str, str]] | None = None,
        close: bool = False,
    ) -> None:
        if self.done:
            return
        self.done = True
        all_headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        all_headers += headers or []
        self._connection.send_response(self, status, all_headers, body, close)

    def error(
        self,
        status: int,
        detail: str = "",
        headers: list[tuple[str, str]] | None = None,
        close: bool = False,
    ) -> None:
        self.respond(status, error_page(status, detail), headers=headers, close=close)

    def start_stream(
        self,
        status: int,
        headers: list[tuple[str, str]],
        close: bool = False,
        self_timed: bool = False,
    ) -> None:
        """Send the head of an open-ended response; then ``write`` pieces, ``finish`` it.
        ``close``: the body is not chunked and ends when the connection closes.
        ``self_timed``: the handler watches its reader (pings, a cap on unsent bytes), so
        the connection's idle timer stops instead of waking every IDLE_TIMEOUT for it."""
        self.streaming, self.self_timed = True, self_timed
        self._connection.send_stream_head(self, status, headers, close)

    def write(self, data: bytes) -> None:
        if self.streaming and not self.done and data:
            self._connection.send_chunk(data)

    def finish(self) -> None:
        if self.streaming and not self.done:
            self.done = True
            self._connection.finish_stream(self)

    def backlog(self) -> int:
        """Bytes still waiting to be sent to this client."""
        return self._connection.pending_output()

    def close(self) -> None:
        """Drop the connection now, whatever is still unsent (a reader that lags)."""
        self._connection.close()

    def _aborted(self) -> None:
        callbacks, self._abort_callbacks = self._abort_callbacks, []
        for callback in callbacks:
            callback()


class Connection:
    def __init__(self, server: HttpServer, sock: socket.socket, peer: str, kind: str) -> None:
        self.server = server
        self.loop = server.loop
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.kind = kind
        self.closed = False
        self._input = bytearray()
        # How much of _input an incomplete head was already scanned to, so a head that
        # arrives a few bytes at a time is not rescanned from its start each time.
        self._head_scanned = 0
        self._seen_newline = False
        self._output = bytearray()
        self._current: Responder | None = None
        self._pending_request: Request | None = None  # head parsed, body still arriving
        self._pending_length = 0
        self._close_after_output = False
        self._stream_chunked = False
        self._peer_closed = False
        self._reading = True
        self._writing = False
        self._last_activity = time.monotonic()
        self._timer: TimerHandle | None = None
        self._answered = False  # a client that just connected sends its request next
        self.loop.add_reader(self.fd, self._on_readable)
        self._arm_timer(IDLE_TIMEOUT)

    @property
    def busy(self) -> bool:
        """In the middle of a request or its answer, or connected and not asked yet."""
        return bool(
            self._current
            or self._input
            or self._output
            or self._pending_request
            or not self._answered
        )

    # -- timers ---------------------------------------------------------------

    def _arm_timer(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.closed:
            return
        idle = time.monotonic() - self._last_activity
        waiting_on_us = self._current is not None and not self._output
        if waiting_on_us and self._current is not None and self._current.self_timed:
            return
        if idle >= IDLE_TIMEOUT and not waiting_on_us:
            # Either nobody is talking to us, or the peer stopped reading our output.
            self.close()
            return
        self._arm_timer(max(1.0, IDLE_TIMEOUT - idle) if not waiting_on_us else IDLE_TIMEOUT)

    # -- input ------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self._peer_finished_sending()
            return
        self._last_activity = time.monotonic()
        self._input += data
        self._process_input()

    def _peer_finished_sending(self) -> None:
        # A half-close still gets the answer it is waiting for (and those of requests
        # already received); a followed log, which never ends, stops here.
        if self._reading:
            self.loop.remove_reader(self.fd)
            self._reading = False
        self._peer_closed = True
        if self._current is not None and self._current.streaming:
            self.close()
            return
        self._process_input()
        if self._current is None and not self._output:
            self.close()

    def _process_input(self) -> None:
        while not self.closed and self._current is None and not self._close_after_output:
            try:
                request = self._next_request()
            except HttpError as error:
                self._refuse(error)
                return
            if request is None:
                break
            self._dispatch(request)
        self._update_reading()

    def _head_may_be_complete(self) -> bool:
        """False when the bytes added since the last incomplete scan cannot change its
        outcome: no head terminator, no first newline (a request line to check), and
        the head is still within its size limit."""
        old, self._head_scanned = self._head_scanned, len(self._input)
        if old == 0 or len(self._input) > MAX_HEAD:
            return True
        if _HEAD_END.search(self._input, max(0, old - 3)):
            return True
        return not self._seen_newline and self._input.find(b"\n", old) != -1

    def _next_request(self) -> Request | None:
        if self._pending_request is None:
            if not self._head_may_be_complete():
                return None
            request, used = parse_head(self._input)
            if request is None:
                self._seen_newline = self._input.find(b"\n") != -1
                return None
            del self._input[:used]
            self._head_scanned = 0
            self._seen_newline = False
            self._pending_length = body_length(request)
            request.peer = self.peer
            request.server_kind = self.kind
            self._pending_request = request
        if len(self._input) < self._pending_length:
            return None
        request = self._pending_request
        request.body = bytes(self._input[: self._pending_length])
        del self._input[: self._pending_length]
        self._pending_request = None
        return request

    def _update_reading(self) -> None:
        # Backpressure: a peer that keeps sending while we are busy is not read further.
        want = (
            not self.closed
            and not self._peer_closed
            and (self._current is None or len(self._input) < MAX_QUEUED_INPUT)
        )
        if want and not self._reading:
            self.loop.add_reader(self.fd, self._on_readable)
            self._reading = True
        elif not want and self._reading and not self.closed:
            self.loop.remove_reader(self.fd)
            self._reading = False

    def _refuse(self, error: HttpError) -> None:
        self.server.log_debug(f"refused a request from {self.peer or 'a local client'}: {error}")
        request = Request("GET", "/", (1, 0), {}, peer=self.peer, server_kind=self.kind)
        responder = Responder(self, request)
        self._current = responder
        responder.error(error.status, error.why, close=True)

    def _dispatch(self, request: Request) -> None:
        responder = Responder(self, request)
        self._current = responder
        try:
            self.server.handle(request, responder)
        except Exception as error:  # a handler bug must not take the daemon down
            self.server.log_error(f"error handling {request.method} {request.target}: {error!r}")
            if not responder.done and not responder.streaming:
                responder.error(500, close=True)
            elif not responder.done:
                self.close()

    # -- output -----------------------------------------------------------------

    def _head(self, status: int, headers: list[tuple[str, str]], close: bool) -> bytes:
        request = self._current.request if self._current else None
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        lines.append(f"Server: {self.server.ident}")
        lines.append(f"Date: {http_date()}")
        lines += [f"{name}: {value}" for name, value in headers]
        if close:
            lines.append("Connection: close")
        elif request is not None and request.version < (1, 1):
            lines.append("Connection: Keep-Alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _wants_close(self, responder: Responder, close: bool) -> bool:
        return close or not responder.request.keep_alive or self.server.closing

    def send_response(
        self,
        responder: Responder,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        close: bool,
    ) -> None:
        if self.closed:
            return
        close = self._wants_close(responder, close)
        head = self._head(status, headers, close)
        if responder.request.method == "HEAD":
            body = b""
        self._queue(head + body)
        self._response_complete(close)

    def send_stream_head(
        self, responder: Responder, status: int, headers: list[tuple[str, str]], close: bool = False
    ) -> None:
        if self.closed:
            return
        # HTTP/1.0 peers cannot read chunks: the body then ends when we close.
        self._stream_chunked = responder.request.version >= (1, 1) and not close
        all_headers = list(headers)
        if self._stream_chunked:
            all_headers.append(("Transfer-Encoding", "chunked"))
        self._queue(self._head(status, all_headers, close=not self._stream_chunked))

    def send_chunk(self, data: bytes) -> None:
        if self.closed:
            return
        if self._stream_chunked:
            self._queue(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self._queue(data)

    def finish_stream(self, responder: Responder) -> None:
        if self.closed:
            return
        if self._stream_chunked:
            self._queue(b"0\r\n\r\n")
        self._response_complete(self._wants_close(responder, not self._stream_chunked))

    def _response_complete(self, close: bool) -> None:
        self._current = None
        self._answered = True
        if close:
            self._close_after_output = True
            self._input.clear()
            if not self._output:
                self.close()
            return
        # The next pipelined request may already be waiting in the buffer.
        self.loop.call_soon(self._next_after_response)

    def _next_after_response(self) -> None:
        self._process_input()
        if self._peer_closed and self._current is None:
            self._close_after_output = True
            if not self._output:
                self.close()

    def pending_output(self) -> int:
        return len(self._output)

    def _queue(self, data: bytes) -> None:
        self._output += data
        self._flush()

    def _flush(self) -> None:
        while self._output and not self.closed:
            try:
                sent = self.sock.send(self._output)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                if error.errno not in (errno.EPIPE, errno.ECONNRESET):
                    self.server.log_debug(f"send to {self.peer or 'a local client'}: {error}")
                self.close()
                return
            self._last_activity = time.monotonic()
            del self._output[:sent]
        if self.closed:
            return
        if self._output and not self._writing:
            self.loop.add_writer(self.fd, self._flush)
            self._writing = True
        elif not self._output:
            if self._writing:
                self.loop.remove_writer(self.fd)
                self._writing = False
            if self._close_after_output:
                self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        try:
            self.sock.close()
        except OSError:
            pass
        self.server.forget(self)
        current, self._current = self._current, None
        if current is not None and not current.done:
            current._aborted()


class HttpServer:
    """Accepts on one listening socket; ``handle(request, responder)`` does the rest."""

    def __init__(
        self,
        loop: EventLoop,
        sock: socket.socket,
        kind: str,
        handle: Handler,
        ident: str = "supervisor_runtime",
        log_debug: Callable[[str], None] | None = None,
        log_error: Callable[[str], None] | None = None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.kind = kind
        self.handle = handle
        self.ident = ident
        self.log_debug = log_debug or (lambda text: None)
        self.log_error = log_error or (lambda text: None)
        self.connections: set[Connection] = set()
        self.closing = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._on_acceptable)

    def _resume_accepting(self) -> None:
        if not self.closing and self.sock.fileno() >= 0:
            self.loop.add_reader(self.sock.fileno(), self._on_acceptable)

    def _on_acceptable(self) -> None:
        for _ in range(64):  # bounded: other fds get their turn
            try:
                conn, address = accept(self.sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                # EMFILE and friends: the socket stays readable, so stop watching it for
                # a second rather than spin (and flood the log) until an fd frees up.
                self.log_error(f"accept failed on {self.kind}: {error}")
                fd = self.sock.fileno()
                self.loop.remove_reader(fd)
                self.loop.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting)
                return
            if len(self.connections) >= MAX_CONNECTIONS:
                conn.close()
                continue
            conn.setblocking(False)
            peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else ""
            self.connections.add(Connection(self, conn, peer, self.kind))

    def pause(self) -> None:
        """Stop accepting (a live upgrade): new clients wait in the listen queue."""
        self.loop.remove_reader(self.sock.fileno())

    def resume(self) -> None:
        self._resume_accepting()

    @property
    def busy(self) -> bool:
        return any(connection.busy for connection in self.connections)

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)

    def close(self) -> None:
        self.closing = True
        self.loop.remove_reader(self.sock.fileno())
        for connection in list(self.connections):
            connection.close()
