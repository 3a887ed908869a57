"""Jinja filters and globals shared by the templates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from hosting.commands import job_title

from admin_web.extensions import get_session, me
from admin_web.job_status import job_for
from admin_web.presenters import job_dict


def when(moment: datetime | None) -> str:
    """A UTC time as ``2025-01-31 14:05:09``; SQLite gives it back naive (still UTC)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def uptime(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def state_class(state: str | None) -> str:
    return "state-" + (state or "unknown").lower().replace(" ", "-")


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, uptime=uptime, state_class=state_class)
    app.jinja_env.globals.update(job_title=job_title, flashed_job=flashed_job)

    @app.context_processor
    def _poll() -> dict[str, Any]:
        return {"poll_ms": current_app.config["STATUS_POLL_MS"], "unisolated": unisolated_hosts()}


def flashed_job(job_id: str) -> dict[str, Any] | None:
    """The job a form just queued, as the job card first shows it (title, current status);
    the card then follows it live. None when the user may not see it (or it is gone)."""
    job = job_for(get_session(), me(), job_id)
    return job_dict(job, with_result=False) if job is not None else None


def unisolated_hosts() -> list[dict[str, str]]:
    """Hosts whose tenants run without containers (their host status says so), for a
    warning on every page: the people using them must know they are not kept apart."""
    from flask_login import current_user
    from hosting.models import Host
    from hosting.status import read_host_status
    from sqlalchemy import select

    from admin_web.extensions import get_redis, get_session

    if not current_user.is_authenticated:
        return []
    found = []
    try:
        for name, queue in get_session().execute(select(Host.name, Host.queue)).all():
            status = read_host_status(get_redis(), queue)
            if status is not None and not status["containers"]:
                found.append({"host": name, "why": status.get("containers_off") or "unknown"})
    except Exception:  # Redis away: the page still renders; the status pages say so
        return []
    return found
