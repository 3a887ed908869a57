"""A small server-sent events client for the tests: a real HTTP connection to the panel's
server thread, read line by line with a deadline (never a sleep)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    name: str
    data: Any
    comments: list[str] = field(default_factory=list)


class EventStream:
    """``GET path`` with ``headers``; ``status``/``headers`` of the answer, then ``next()``
    for each event (keep-alive comments are counted in ``comments``)."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        self.comments: list[str] = []
        self.retry: int | None = None
        self.ended = False

    def body(self) -> str:
        return self.response.read().decode()

    def _line(self, deadline: float) -> str | None:
        """The next line, or None at the end of the stream; TimeoutError past the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no event before the deadline")
        sock = self.conn.sock
        if sock is not None:
            sock.settimeout(left)
        try:
            raw = self.response.readline()  # chunked or not
        except TimeoutError:
            raise TimeoutError("no event before the deadline") from None
        if not raw:
            self.ended = True
            return None
        return raw.decode().rstrip("\n")

    def next(self, timeout: float = 5.0) -> Event | None:
        """The next event, or None when the server ended the stream."""
        deadline = time.monotonic() + timeout
        name, data = "message", []
        while True:
            line = self._line(deadline)
            if line is None:
                return None
            if line == "":
                if data:
                    return Event(name, json.loads("\n".join(data)))
                name = "message"
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line.startswith("retry:"):
                self.retry = int(line[6:])
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    def until(
        self, name: str, match: Any = None, timeout: float = 5.0
    ) -> tuple[Event, list[Event]]:
        """Events until one named ``name`` (for which ``match(data)`` holds, if given):
        that one, and every event before it."""
        deadline = time.monotonic() + timeout
        seen: list[Event] = []
        while True:
            event = self.next(max(0.001, deadline - time.monotonic()))
            if event is None:
                raise AssertionError(f"the stream ended before a {name!r} event; saw {seen}")
            if event.name == name and (match is None or match(event.data)):
                return event, seen
            seen.append(event)

    def close(self) -> None:
        self.response.close()  # its file holds the socket open too
        self.conn.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def login_cookie(base_url: str, email: str, password: str) -> str:
    """Log in through the real server; the session cookie as a Cookie header value."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body = urllib.parse.urlencode({"email": email, "password": password})
    conn.request(
        "POST",
        "/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    cookies = [
        value.split(";", 1)[0]
        for key, value in response.getheaders()
        if key.lower() == "set-cookie" and value.startswith("panel_session=")
    ]
    assert response.status == 302 and cookies, f"login failed: HTTP {response.status}"
    return cookies[-1]


def get_json(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path, headers={"Accept": "application/json", **headers})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, json.loads(raw) if raw else None
