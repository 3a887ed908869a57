"""The panel's live updates: server-sent events of an app (its page) and of the apps list.

``GET /apps/<id>/events`` (session login; the API's twin in api.py, token): on connect
``event: status`` with the app page's status JSON, then for each message of the app's
channel (``hosting.live_events``): status -> ``event: status`` read again, history ->
``event: history`` (``presenters.history_payload``), job and usage -> ``event: job`` /
``event: usage`` with the message (the page re-reads what it shows).
``GET /apps/events``: ``event: status`` with ``{"apps": {id: app_state}}`` for the apps the
user may see, first all of them, then the ones whose status changed.

Access is the app page's: another tenant's app is a 404 on connect. While a stream runs,
every read checks again that the app is still the user's, and every keep-alive checks the
credential itself (a logged-out session or revoked token ends the stream).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app
from flask import session as flask_session
from flask_login import login_required
from hosting import login_sessions, services
from hosting.errors import NotFound
from hosting.live_events import APP_CHANNEL_PREFIX, app_channel
from hosting.models import App, User
from hosting.status import read_app_status
from redis.exceptions import RedisError
from sqlalchemy.orm import Session, sessionmaker

from admin_web.event_stream import (
    Batch,
    Limits,
    Slot,
    Slots,
    event_lines,
    sse,
    stream_response,
    unavailable_response,
)
from admin_web.extensions import LOGIN_SESSION_KEY, databases, get_redis, get_session, me
from admin_web.presenters import app_state, history_payload, page_status_payload

bp = Blueprint("live", __name__)
log = logging.getLogger(__name__)

# What an app stream sends as its status: the page's payload, or the API's.
StatusOf = Callable[[Session, User, App, Any], dict[str, Any]]


@dataclass(frozen=True)
class Viewer:
    """Who a stream is for: the user's id and how to check their credential again (the
    login session or the token the stream was opened with)."""

    user_id: int
    verify: Callable[[Session], User | None]


def init_app(app: Flask) -> None:
    app.extensions["event_slots"] = Slots(app.config["EVENT_STREAMS_MAX"])


def _limits() -> Limits:
    config = current_app.config
    return Limits(
        max_seconds=config["EVENT_STREAM_SECONDS"],
        keepalive_seconds=config["EVENT_KEEPALIVE_SECONDS"],
        coalesce_seconds=config["EVENT_COALESCE_SECONDS"],
    )


class _Reads:
    """Short database sessions for a running stream (none is held between events)."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.databases = databases()
        self.sessions: sessionmaker[Session] = self.databases.reads

    def user(self, session: Session) -> User | None:
        user = session.get(User, self.viewer.user_id)
        return user if user is not None and user.is_active else None

    def credential_holds(self) -> bool:
        with self.sessions() as session:
            user = self.viewer.verify(session)
            self.databases.commit_credential_check(session)  # the credential's last use
            return user is not None


def _start(subscribe: Callable[[Any], Any]) -> tuple[Any, Slot] | Response:
    """A place among the process's streams and a subscribed pub/sub connection, or the 503
    that says why not. The request's database session is closed: the stream opens short
    ones of its own when it reads."""
    slots: Slots = current_app.extensions["event_slots"]
    slot = slots.take()
    if slot is None:
        return unavailable_response(f"too many event streams open ({slots.size})")
    pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    try:
        subscribe(pubsub)
    except RedisError as exc:
        pubsub.close()
        slot.release()
        log.warning("no event stream: Redis: %s", exc)
        return unavailable_response("live updates are unavailable (Redis does not answer)")
    get_session().close()
    return pubsub, slot


def app_events(viewer: Viewer, app: App, status_of: StatusOf) -> Response:
    """The event stream of ``app`` (already loaded through the access check)."""
    app_id = app.id
    started = _start(lambda pubsub: pubsub.subscribe(app_channel(app_id)))
    if isinstance(started, Response):
        return started
    pubsub, slot = started
    redis, reads = get_redis(), _Reads(viewer)

    def read(kinds: dict[str, dict[str, Any]]) -> list[str] | None:
        with reads.sessions() as session:
            user = reads.user(session)
            try:
                current = services.get_app_for(session, user, app_id) if user else None
            except NotFound:
                current = None
            if user is None or current is None:
                return None  # deleted, or no longer the user's: the stream ends
            chunks = []
            if "status" in kinds:
                chunks.append(sse("status", status_of(session, user, current, redis)))
            if "history" in kinds:
                chunks.append(sse("history", history_payload(redis, app_id)))
            chunks += [sse(kind, kinds[kind]) for kind in ("job", "usage") if kind in kinds]
            return chunks

    def first() -> list[str]:
        return read({"status": {}}) or []

    lines = event_lines(
        pubsub, first, lambda batch: read(batch.get(app_id, {})), reads.credential_holds, _limits()
    )
    return stream_response(lines, slot)


def apps_list_events(viewer: Viewer) -> Response:
    """The states of the apps the user may see: all at first, then each that changes. One
    pattern subscription for every app; each app's access is checked when its event comes
    (so an app created since shows), and one refused is remembered (another tenant's)."""
    started = _start(lambda pubsub: pubsub.psubscribe(f"{APP_CHANNEL_PREFIX}*"))
    if isinstance(started, Response):
        return started
    pubsub, slot = started
    redis, reads = get_redis(), _Reads(viewer)
    refused: set[int] = set()

    def states(apps: list[App]) -> list[str]:
        data = {str(a.id): app_state(a, read_app_status(redis, a.id)) for a in apps}
        return [sse("status", {"apps": data})] if data else []

    def first() -> list[str]:
        with reads.sessions() as session:
            user = reads.user(session)
            if user is None:
                return []
            return states(services.apps_visible_to(session, user))

    def render(batch: Batch) -> list[str] | None:
        changed = [i for i, kinds in batch.items() if "status" in kinds and i not in refused]
        if not changed:
            return []
        with reads.sessions() as session:
            user = reads.user(session)
            if user is None:
                return None
            apps = []
            for app_id in changed:
                app = session.get(App, app_id)
                if app is None or not services.can_access(session, user, app):
                    refused.add(app_id)  # gone or another tenant's: not looked at again
                    continue
                apps.append(app)
            return states(apps)

    lines = event_lines(pubsub, first, render, reads.credential_holds, _limits())
    return stream_response(lines, slot)


def session_viewer() -> Viewer:
    """The logged-in user, checked again through their login session."""
    user_id = me().id
    plaintext = flask_session.get(LOGIN_SESSION_KEY)

    def verify(session: Session) -> User | None:
        return login_sessions.session_user(session, plaintext, user_id)

    return Viewer(user_id, verify)


@bp.get("/apps/<int:app_id>/events")
@login_required
def app_stream(app_id: int) -> Any:
    try:
        app = services.get_app_for(get_session(), me(), app_id)
    except NotFound:
        abort(404)
    return app_events(session_viewer(), app, page_status_payload)


@bp.get("/apps/events")
@login_required
def apps_stream() -> Any:
    return apps_list_events(session_viewer())
