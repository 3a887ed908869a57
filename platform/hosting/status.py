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

A stopped status program must leave no status that looks current. The poller rewrites every
key each round with a short ``ttl``, so its keys expire soon after it stops. The feeder
writes a key only when something changed, so its keys are kept long and carry ``"host":
<queue>``: such a status counts only while that host's own status (``write_host_status``,
``hosting:host:<queue>``, short TTL, refreshed every round) exists. One key a round keeps
every app of the host current, however many there are; readers here apply the rule, so
the answer is the same as with the poller's keys: None once the writer stopped.
Works with Redis clients made with or without ``decode_responses``.
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
    host: str | None = None,
) -> None:
    """Store the processes of ``app_id`` (as getAllProcessInfo gives them; fields we do not
    know are dropped), whether its runtime answered and, if not, ``runtime_state``: the
    host runtime's state of it and the cause ({"state", "cause"}); and its config notices
    (tenant files it set aside: {file, line, section, key, value, error}). With ``host``
    (a queue), the status is current only while that host's status is (see above)."""
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
    if host is not None:
        value["host"] = host
    redis.set(status_key(app_id), json.dumps(value), ex=ttl)


def read_app_status(redis: Any, app_id: int) -> dict[str, Any] | None:
    """The last status written for ``app_id``, or None when there is none (or it expired,
    or the host that vouches for it stopped)."""
    return read_app_statuses(redis, [app_id])[app_id]


def read_app_statuses(redis: Any, app_ids: list[int]) -> dict[int, dict[str, Any] | None]:
    """``read_app_status`` of many apps in at most two round trips (MGET, then one MGET of
    the hosts that vouch for them)."""
    if not app_ids:
        return {}
    raws = redis.mget([status_key(app_id) for app_id in app_ids])
    statuses = {app_id: _parse_status(raw) for app_id, raw in zip(app_ids, raws, strict=True)}
    hosts = sorted({s["host"] for s in statuses.values() if s and isinstance(s.get("host"), str)})
    if not hosts:
        return statuses
    raws = redis.mget([host_key(queue) for queue in hosts])
    alive = {queue for queue, raw in zip(hosts, raws, strict=True) if raw is not None}
    return {
        app_id: None if status and "host" in status and status["host"] not in alive else status
        for app_id, status in statuses.items()
    }


def _parse_status(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw)


HOST_KEY_PREFIX = "hosting:host:"


def host_key(queue: str) -> str:
    return f"{HOST_KEY_PREFIX}{queue}"


def write_host_status(
    redis: Any, queue: str, containers: bool, containers_off: str | None, ttl: int = 30
) -> None:
    """Whether the host of ``queue`` keeps its tenants in containers, and why not."""
    value = {"updated": time.time(), "containers": containers, "containers_off": containers_off}
    redis.set(host_key(queue), json.dumps(value), ex=ttl)


def read_host_status(redis: Any, queue: str) -> dict[str, Any] | None:
    raw = redis.get(host_key(queue))
    if raw is None:
        return None
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
