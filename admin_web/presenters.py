"""Rows and dicts the pages and the JSON endpoints show: apps, processes, services, jobs.

Process rows merge two sources: the database says which programs an app should run (its
enabled services), Redis says what its runtime reports (``hosting.status``, written by the
workers' poller). A program the database knows but the runtime does not report yet is shown
as PENDING; one the runtime reports that we did not render (a tenant's own file) as "own".
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hosting.commands import job_title, process_names
from hosting.desired_state import app_states, summary
from hosting.errors import InvalidInput
from hosting.job_records import jobs_visible_to
from hosting.live_events import HISTORY_KEEP, read_history
from hosting.models import App, Job, Service, User
from hosting.status import read_app_status
from sqlalchemy.orm import Session

RUNNING = "RUNNING"
RECENT_JOBS = 8  # jobs an app page lists
HISTORY_SHOWN = 50  # restart history entries an app page shows; "more" shows all kept


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def process_rows(app: App, status: dict[str, Any] | None) -> list[dict[str, Any]]:
    kinds = {service.name: service.kind for service in app.services}
    reported = {
        (p.get("group") or p["name"], p["name"]): p for p in (status or {}).get("processes", [])
    }
    rows: list[dict[str, Any]] = []
    for group, names in process_names(app).items():
        for name in names:
            info = reported.pop((group, name), None)
            rows.append(_row(group, name, kinds.get(group, "own"), info))
    for (group, name), info in sorted(reported.items()):
        rows.append(_row(group, name, kinds.get(group, "own"), info))
    return rows


def _row(group: str, name: str, kind: str, info: dict[str, Any] | None) -> dict[str, Any]:
    target = name if group == name else f"{group}:{name}"
    if info is None:
        return {
            "name": name,
            "group": group,
            "target": target,
            "kind": kind,
            "state": "PENDING",
            "pid": None,
            "uptime": None,
            "description": "not reported by the runtime yet",
        }
    state = info.get("statename") or "UNKNOWN"
    uptime = None
    # A status is written when something changes (the feeder), so its "now" is the time of
    # the last change: the uptime goes on with this clock (the host's, NTP-synced).
    start, now = info.get("start") or 0, max(info.get("now") or 0, time.time())
    description = info.get("description") or ""
    if state == RUNNING and start and now >= start:
        uptime = int(now - start)
        if description.startswith("pid "):  # the runtime's words, as of the last change
            description = f"pid {info.get('pid')}, uptime {timedelta(seconds=uptime)}"
    return {
        "name": name,
        "group": group,
        "target": target,
        "kind": kind,
        "state": state,
        "pid": info.get("pid") or None,
        "uptime": uptime,
        "description": description,
    }


def app_state(app: App, status: dict[str, Any] | None) -> dict[str, Any]:
    """A one-word state of the whole app, and counts, for lists and headers."""
    rows = process_rows(app, status)
    running = sum(1 for row in rows if row["state"] == RUNNING)
    if status is None:
        state = "unknown"
    elif status.get("runtime") != "up":
        state = "down"
    elif rows and running == len(rows):
        state = "running"
    elif running == 0:
        state = "stopped"
    else:
        state = "partial"
    return {
        "state": state,
        "running": running,
        "total": len(rows),
        "updated": (status or {}).get("updated"),
        "runtime": (status or {}).get("runtime"),
        "error": (status or {}).get("error"),
        # Why a runtime is down, as the host runtime sees it: {"state": "FATAL", "cause": ...}
        "runtime_state": (status or {}).get("runtime_state") if state == "down" else None,
    }


NOTICE_FIELDS = ("file", "line", "section", "key", "value", "error")


def config_notices(status: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The tenant files the app's runtime set aside, and why (``hosting.status`` notices)."""
    notices = (status or {}).get("notices") or []
    return [
        {key: notice.get(key) for key in NOTICE_FIELDS}
        for notice in notices
        if isinstance(notice, dict)
    ]


def status_payload(session: Session, app: App, redis: Any) -> dict[str, Any]:
    status = read_app_status(redis, app.id)
    return {
        "app": app.id,
        **app_state(app, status),
        "processes": process_rows(app, status),
        **desired_actual(session, app, status),
        "notices": config_notices(status),
    }


def page_status_payload(session: Session, user: User, app: App, redis: Any) -> dict[str, Any]:
    """The app page's status: ``status_payload`` and the app's recent jobs (its activity
    list), as ``user`` may see them. The status route and the page's event stream send it."""
    payload = status_payload(session, app, redis)
    jobs = jobs_visible_to(session, user, app=app, limit=RECENT_JOBS)
    payload["jobs"] = [job_dict(job, with_result=False) for job in jobs]
    return payload


def service_dict(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "name": service.name,
        "kind": service.kind,
        "enabled": service.enabled,
        "settings": dict(service.settings or {}),
        "updated_at": _iso(service.updated_at),
    }


def app_dict(app: App, redis: Any | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": app.id,
        "name": app.name,
        "tech": app.tech,
        "tenant": {"id": app.tenant.id, "slug": app.tenant.slug, "name": app.tenant.name},
        "host": app.host.name,
        "root": app.root,
        "created_at": _iso(app.created_at),
    }
    if redis is not None:
        data["status"] = app_state(app, read_app_status(redis, app.id))
    return data


def job_dict(job: Job, *, with_result: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "title": job_title(job),
        "status": job.status,
        "finished": job.finished,
        "arguments": job.arguments or {},
        "app": job.app_id,
        "actor": job.actor,
        "attempts": job.attempts,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
    }
    if with_result:
        data["result"] = job.result
        data["log_tail"] = job.log_tail
    return data


def desired_actual(session: Session, app: App, status: dict[str, Any] | None) -> dict[str, Any]:
    """Each service's desired and actual state, the app's last apply job, and a sentence for
    every service whose runtime does not run what was asked ("Memcached: wanted disabled,
    running; last apply failed: ...")."""
    states, apply = app_states(session, app, status)
    rows = [{**state.as_dict(), "summary": summary(state, apply)} for state in states]
    return {
        "services": rows,
        "apply": apply.as_dict() if apply is not None else None,
        "differences": [row["summary"] for row in rows if row["differs"]],
    }


def requester_words(requester: dict[str, Any] | None) -> str | None:
    """Who asked for a transition, from the runtime's requester struct: ``uid 1000, pid
    4242 (unix socket)``, ``user admin from 10.0.0.5:41000 (inet)``; None when nobody did."""
    if not isinstance(requester, dict):
        return None
    parts = [f"{key} {requester[key]}" for key in ("user", "uid", "pid") if requester.get(key)]
    if requester.get("peer"):
        parts.append(f"from {requester['peer']}")
    via = requester.get("via")
    words = ", ".join(parts) or "an unknown client"
    return f"{words} ({via} socket)" if via == "unix" else f"{words} ({via or 'unknown'})"


def history_row(entry: dict[str, Any]) -> dict[str, Any]:
    """A kept transition (``hosting.live_events``) as the page and the API show it: the
    runtime's fields, plus ``at`` (ISO time, UTC) and ``who`` (the requester in words)."""
    moment = entry.get("time")
    at = None
    if isinstance(moment, int | float):
        at = datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
    return {**entry, "at": at, "who": requester_words(entry.get("requester"))}


def history_limit(raw: str | None) -> int:
    """A history route's ``?limit=``: 1 to all that is kept, HISTORY_SHOWN when absent."""
    if raw is None or raw == "":
        return HISTORY_SHOWN
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidInput("limit", f"must be a number from 1 to {HISTORY_KEEP}") from None
    return min(max(limit, 1), HISTORY_KEEP)


def history_payload(redis: Any, app_id: int, limit: int = HISTORY_SHOWN) -> dict[str, Any]:
    """The app's last ``limit`` restart history entries, newest first, and whether more
    are kept (``more``)."""
    entries = read_history(redis, app_id, limit + 1)
    more = len(entries) > limit
    shown = entries[-limit:] if limit > 0 else []
    return {
        "app": app_id,
        "limit": limit,
        "more": more,
        # By time: a backfill or a late writer may have appended out of order.
        "history": [
            history_row(entry)
            for entry in sorted(shown, key=lambda e: e.get("time") or 0, reverse=True)
        ],
    }
