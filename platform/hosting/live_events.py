"""What the panel is told as it happens: app events on Redis pub/sub, and each app's restart
history kept beside its status.

Written on the host side (the status feeder, the workers) and read by the panel, which
streams them to the browser. Tenants never reach the platform's Redis: only host-side
programs publish here.

- ``hosting:app-events:<app_id>`` (pub/sub channel): one message per change, JSON
  ``{"app": <id>, "kind": <kind>, "time": <unix time>}``. ``kind`` is ``status`` (the
  app's status key changed), ``history`` (entries were appended), ``job`` (one of its jobs
  changed state) or ``usage`` (a new CPU/memory sample). The message says only *what*
  changed: a listener reads the current value itself, so a lost message costs nothing
  but latency and the next one brings everything up to date.
- ``hosting:history:<app_id>`` (list, oldest first, at most ``HISTORY_KEEP``): the app's
  process transitions as its runtime's history gives them (``runtime.getProcessHistory``'s
  ``transitions``), each with ``"process": "group:name"`` added, and, for an unexpected
  exit, ``"log_tail"``: the last lines the program wrote before it.

Works with Redis clients made with or without ``decode_responses``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

APP_CHANNEL_PREFIX = "hosting:app-events:"
HISTORY_KEY_PREFIX = "hosting:history:"
HISTORY_KEEP = 200
EVENT_KINDS = frozenset({"status", "history", "job", "usage"})


def app_channel(app_id: int) -> str:
    return f"{APP_CHANNEL_PREFIX}{app_id}"


def history_key(app_id: int) -> str:
    return f"{HISTORY_KEY_PREFIX}{app_id}"


def event_message(app_id: int, kind: str) -> str:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown app event kind {kind!r} (one of {sorted(EVENT_KINDS)})")
    return json.dumps({"app": app_id, "kind": kind, "time": time.time()})


def publish_app_event(redis: Any, app_id: int, kind: str) -> None:
    """Tell whoever listens on the app's channel that its ``kind`` changed."""
    redis.publish(app_channel(app_id), event_message(app_id, kind))


def parse_event(raw: bytes | str) -> dict[str, Any]:
    """A message of an app channel as a dict; ValueError when it is not one."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    value = json.loads(text)
    if not isinstance(value, dict) or value.get("kind") not in EVENT_KINDS:
        raise ValueError(f"not an app event: {text[:200]!r}")
    return value


def append_history(redis: Any, app_id: int, entries: Iterable[dict[str, Any]]) -> int:
    """Append ``entries`` (oldest first) to the app's history, keeping the last
    ``HISTORY_KEEP``; returns how many were appended."""
    values = [json.dumps(entry, sort_keys=True) for entry in entries]
    if not values:
        return 0
    pipe = redis.pipeline(transaction=True)
    pipe.rpush(history_key(app_id), *values)
    pipe.ltrim(history_key(app_id), -HISTORY_KEEP, -1)
    pipe.execute()
    return len(values)


def read_history(redis: Any, app_id: int, limit: int = HISTORY_KEEP) -> list[dict[str, Any]]:
    """The app's last ``limit`` history entries, oldest first."""
    if limit <= 0:
        return []
    raw = redis.lrange(history_key(app_id), -limit, -1)
    return [json.loads(item.decode("utf-8") if isinstance(item, bytes) else item) for item in raw]


def forget_app(redis: Any, app_id: int) -> None:
    """Drop what is kept of a deleted app."""
    redis.delete(history_key(app_id))
