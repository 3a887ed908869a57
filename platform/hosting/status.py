"""Live process status of apps, kept in Redis by the workers' status poller, read by the panel.

One key per app, ``hosting:status:<app_id>``, holding JSON::

    {"updated": <unix time>, "runtime": "up" | "down",
     "processes": [{"name", "group", "statename", "pid", "description", "start", "now", ...}],
     "error": "why it did not answer",                  # when down
     "runtime_state": {"state": "FATAL", "cause": "…"},  # when down: the host runtime's view
     "notices": [{"file", "line", "section", "key", "value", "error"}]}  # when any

``runtime_state`` is how the host runtime sees the app's runtime (its program
``tenant-<app>``): BACKOFF, FATAL, EXITED, STOPPED..., and its cause, the last lines the
runtime wrote before it went down.

The key expires (``ttl``) so a host whose poller stopped shows no status rather than an old
one. Works with Redis clients made with or without ``decode_responses``.
"""

from __future__ import annotations

import json
import time
from typing import Any

KEY_PREFIX = "hosting:status:"
PROCESS_FIELDS = (
    "name",
    "group",
    "statename",
    "state",
    "pid",
    "description",
    "start",
    "stop",
    "now",
    "exitstatus",
    "spawnerr",
)


def status_key(app_id: int) -> str:
    return f"{KEY_PREFIX}{app_id}"


def write_app_status(
    redis: Any,
    app_id: int,
    processes: list[dict[str, Any]],
    ttl: int = 30,
    *,
    runtime: str = "up",
    error: str | None = None,
    runtime_state: dict[str, str] | None = None,
    notices: list[dict[str, Any]] | None = None,
) -> None:
    """Store the processes of ``app_id`` (as getAllProcessInfo gives them; fields we do not
    know are dropped), whether its runtime answered and, if not, ``runtime_state``: the
    host runtime's state of it and the cause ({"state", "cause"}); and its config notices
    (tenant files it set aside: {file, line, section, key, value, error})."""
    value: dict[str, Any] = {
        "updated": time.time(),
        "runtime": runtime,
        "processes": [
            {key: info[key] for key in PROCESS_FIELDS if key in info} for info in processes
        ],
    }
    if error is not None:
        value["error"] = error
    if runtime_state is not None:
        value["runtime_state"] = {
            "state": str(runtime_state.get("state", "")),
            "cause": str(runtime_state.get("cause", "")),
        }
    if notices:
        value["notices"] = notices
    redis.set(status_key(app_id), json.dumps(value), ex=ttl)


def read_app_status(redis: Any, app_id: int) -> dict[str, Any] | None:
    """The last status written for ``app_id``, or None when there is none (or it expired)."""
    return _parse_status(redis.get(status_key(app_id)))


def read_app_statuses(redis: Any, app_ids: list[int]) -> dict[int, dict[str, Any] | None]:
    """``read_app_status`` of many apps in one round trip (MGET)."""
    if not app_ids:
        return {}
    raws = redis.mget([status_key(app_id) for app_id in app_ids])
    return {app_id: _parse_status(raw) for app_id, raw in zip(app_ids, raws, strict=True)}


def _parse_status(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw)


HOST_KEY_PREFIX = "hosting:host:"


def write_host_status(
    redis: Any, queue: str, containers: bool, containers_off: str | None, ttl: int = 30
) -> None:
    """Whether the host of ``queue`` keeps its tenants in containers, and why not."""
    value = {"updated": time.time(), "containers": containers, "containers_off": containers_off}
    redis.set(f"{HOST_KEY_PREFIX}{queue}", json.dumps(value), ex=ttl)


def read_host_status(redis: Any, queue: str) -> dict[str, Any] | None:
    raw = redis.get(f"{HOST_KEY_PREFIX}{queue}")
    if raw is None:
        return None
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
