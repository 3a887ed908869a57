"""Server-sent events from the app channels of ``hosting.live_events``.

One stream is one Redis pub/sub connection (the app's channel, or every app's channel for
the apps list) and one thread of the panel's process, held while the browser listens. So:

- streams are capped per process (``Slots``; beyond the cap the route answers 503 with
  Retry-After and the page polls instead);
- a stream ends after ``Limits.max_seconds`` (the browser's EventSource reconnects after
  the ``retry`` we send), so a thread is never held for ever and the credential is checked
  again on reconnect;
- a burst of messages is coalesced: after the first message the stream collects for
  ``Limits.coalesce_seconds`` and renders once, so fifty status messages cost one read;
- a comment line every ``Limits.keepalive_seconds`` keeps proxies from closing an idle
  stream and lets a stream whose browser went away notice (the write fails).

The generator runs after the request's context is gone: it gets what it needs (a session
factory, the Redis client, ids) from the view, never Flask's globals.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Response
from hosting import live_events
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RETRY_MS = 1000  # the browser reconnects this long after a stream ends
RETRY_AFTER_SECONDS = 30  # the 503 beyond the cap: when to try the stream again


@dataclass(frozen=True)
class Limits:
    max_seconds: float = 300.0
    keepalive_seconds: float = 15.0
    coalesce_seconds: float = 0.05


# app id -> kind -> the last message of that kind in the batch
Batch = dict[int, dict[str, dict[str, Any]]]


class Slots:
    """At most ``size`` streams open at once in this process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    def take(self) -> Slot | None:
        with self._lock:
            if self._open >= self.size:
                return None
            self._open += 1
        return Slot(self)

    def _give_back(self) -> None:
        with self._lock:
            self._open -= 1


@dataclass
class Slot:
    """One stream's place; ``release`` is safe to call twice (generator end and close)."""

    slots: Slots
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots._give_back()


def sse(event: str | None, data: Any) -> str:
    """One event in the text/event-stream format (data as JSON on one line)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


def app_id_of(channel: bytes | str) -> int | None:
    name = channel.decode() if isinstance(channel, bytes) else channel
    if not name.startswith(live_events.APP_CHANNEL_PREFIX):
        return None
    try:
        return int(name[len(live_events.APP_CHANNEL_PREFIX) :])
    except ValueError:
        return None


def _add(batch: Batch, message: dict[str, Any]) -> None:
    """Put a pub/sub message into the batch (the app id comes from the channel's name,
    which the subscription chose, never from the message's body)."""
    if message.get("type") not in ("message", "pmessage"):
        return
    app_id = app_id_of(message["channel"])
    try:
        event = live_events.parse_event(message["data"])
    except ValueError as exc:
        log.warning("ignored on %s: %s", message["channel"], exc)
        return
    if app_id is not None:
        batch.setdefault(app_id, {})[event["kind"]] = event


def event_lines(
    pubsub: Any,
    first: Callable[[], list[str]],
    render: Callable[[Batch], list[str] | None],
    still_allowed: Callable[[], bool],
    limits: Limits,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """The stream's text: ``retry`` and ``first()``, then ``render(batch)`` for each batch
    of messages, keep-alive comments between; until ``max_seconds`` have passed, ``render``
    returns None (the app is gone) or ``still_allowed()`` says no (checked at each
    keep-alive). Subscribed before ``first()`` reads, so no change falls between the two.
    The pub/sub connection is closed at the end, whatever ends it."""
    try:
        end = clock() + limits.max_seconds
        yield f"retry: {RETRY_MS}\n\n"
        yield from first()
        keepalive_at = clock() + limits.keepalive_seconds
        while (now := clock()) < end:
            if now >= keepalive_at:
                if not still_allowed():
                    return
                yield ": keep-alive\n\n"
                keepalive_at = now + limits.keepalive_seconds
            message = pubsub.get_message(timeout=max(0.0, min(end, keepalive_at) - now))
            if message is None:
                continue
            batch: Batch = {}
            _add(batch, message)
            window_end = clock() + limits.coalesce_seconds
            while (left := window_end - clock()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None:
                    _add(batch, message)
            if not batch:
                continue
            chunks = render(batch)
            if chunks is None:
                return
            yield from chunks
    except (RedisError, OSError) as exc:  # Redis went away: the browser reconnects
        log.warning("event stream ended: %s", exc)
    finally:
        try:
            pubsub.close()
        except Exception as exc:  # closing a broken connection: nothing more to do
            log.debug("closing the pub/sub connection: %s", exc)


def stream_response(lines: Iterator[str], slot: Slot) -> Response:
    """The text/event-stream response; the slot is given back when the stream ends or the
    server closes the response (a browser that went away)."""

    def body() -> Iterator[str]:
        try:
            yield from lines
        finally:
            slot.release()

    response = Response(body(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    response.call_on_close(slot.release)
    return response


def unavailable_response(message: str) -> Response:
    """No stream now (beyond the cap, Redis away): 503 with Retry-After; the page polls
    meanwhile and tries again then."""
    body = json.dumps({"error": {"message": message, "field": None}})
    response = Response(body, status=503, mimetype="application/json")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response
