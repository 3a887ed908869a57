"""The panel's and the API's server-sent events (admin_web.live) through a real HTTP server
thread and a real redis-server: the first status, a change written and published as the
status feeder does, history, jobs, coalescing, the end of a stream, the cap, and another
tenant's app (404, and nothing of it ever on a stream)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from hosting import live_events, services
from hosting.login_sessions import end_user_sessions
from hosting.models import App, User
from hosting.status import write_app_status

from admin_web import create_app
from admin_web.extensions import databases, get_session
from tests.web.browser import ServerThread
from tests.web.fixtures import PASSWORD, SHORT_ROOT, World, populate
from tests.web.sse import EventStream, get_json, login_cookie

pytestmark = pytest.mark.timeout(60)


def process(name: str, pid: int, state: str = "RUNNING") -> dict[str, Any]:
    """One process as the feeder writes it (getAllProcessInfo's fields)."""
    codes = {"RUNNING": 20, "STOPPED": 0, "EXITED": 100, "BACKOFF": 30}
    return {
        "name": name,
        "group": name,
        "statename": state,
        "state": codes[state],
        "pid": pid if state == "RUNNING" else 0,
        "start": 1000,
        "now": 1060,
        "description": f"pid {pid}, uptime 0:01:00" if state == "RUNNING" else "",
    }


def feed_status(client: redis.Redis, app_id: int, pid: int, state: str = "RUNNING") -> None:
    """What the status feeder does on a change: write the status, then publish."""
    write_app_status(client, app_id, [process("app", pid, state), process("cron", pid + 1)])
    live_events.publish_app_event(client, app_id, "status")


CRASH = {
    "process": "app:app",
    "time": 1765000000.5,
    "from": "RUNNING",
    "to": "EXITED",
    "reason": "exit",
    "description": "exit status 3; not expected",
    "pid": 4242,
    "exitstatus": 3,
    "log_tail": "Traceback (most recent call last):\n  <boom> & 'quotes'\nValueError: bad\n",
}
RESTART = {
    "process": "app:app",
    "time": 1765000001.0,
    "from": "EXITED",
    "to": "STARTING",
    "reason": "request",
    # As the runtime words it: the request and who sent it.
    "description": "startProcess by uid 1000 (alice), pid 77 on the unix socket",
    "pid": 0,
    "requester": {"via": "unix", "uid": 1000, "pid": 77},
}


def feed_history(client: redis.Redis, app_id: int, entries: list[dict[str, Any]]) -> None:
    """What the feeder does with new transitions: append them, then publish."""
    live_events.append_history(client, app_id, entries)
    live_events.publish_app_event(client, app_id, "history")


class Served:
    def __init__(self, app: Flask, world: World, url: str) -> None:
        self.app, self.world, self.url = app, world, url

    def session(self, email: str = "alice@acme.example") -> dict[str, str]:
        return {"Cookie": login_cookie(self.url, email, PASSWORD)}

    def token(self, which: str = "alice") -> dict[str, str]:
        plain = self.world.alice_token if which == "alice" else self.world.bob_token
        return {"Authorization": f"Bearer {plain}"}

    def stream(self, path: str, headers: dict[str, str]) -> EventStream:
        return EventStream(self.url, path, headers)


@pytest.fixture
def serve(app_config: dict[str, Any], fast_passwords: None) -> Iterator[Callable[..., Served]]:
    started: list[tuple[Flask, ServerThread]] = []

    def start(**overrides: Any) -> Served:
        app = create_app({**app_config, **overrides})
        world = populate(app, SHORT_ROOT)
        server = ServerThread(app).__enter__()
        started.append((app, server))
        return Served(app, world, server.url)

    yield start
    for app, server in started:
        server.__exit__(None, None, None)
        databases(app).dispose()
        app.extensions["redis"].close()


def without_uptimes(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` but for its processes' uptimes (``uptime`` in seconds and in the
    description), which go on with the clock between two reads."""
    processes = [
        {
            **process,
            "uptime": None,
            "description": re.sub(
                r"uptime [^,]*(, \d+:\d+:\d+)?", "uptime", process.get("description", "")
            ),
        }
        for process in status["processes"]
    ]
    return {**status, "processes": processes}


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_stream_sends_the_status_route_then_each_change(
    serve: Callable[..., Served], redis_client: redis.Redis, via: str
) -> None:
    """The page's stream (login) sends the page's status JSON, the API's (token) the API's
    status: on connect, then after each change the feeder writes and publishes."""
    served = serve()
    shop = served.world.shop_id
    feed_status(redis_client, shop, 100)
    if via == "page":
        headers, prefix, status_path = served.session(), "", f"/apps/{shop}/status.json"
    else:
        headers, prefix, status_path = served.token(), "/api/v1", f"/api/v1/apps/{shop}/status"
    with served.stream(f"{prefix}/apps/{shop}/events", headers) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Cache-Control"] == "no-store"
        assert stream.headers["X-Accel-Buffering"] == "no"
        first = stream.next()
        assert stream.retry == 1000
        assert first is not None and first.name == "status"
        code, route = get_json(served.url, status_path, headers)
        # Exactly what the status route says, but for the clock: a process's description
        # counts its uptime in seconds, and a second may pass between the two reads.
        assert code == 200 and without_uptimes(first.data) == without_uptimes(route)
        assert ("jobs" in first.data) == (via == "page")
        assert {p["pid"] for p in first.data["processes"]} == {100, 101}

        published = time.monotonic()
        feed_status(redis_client, shop, 200)
        event, before = stream.until("status", timeout=2.0)
        took = time.monotonic() - published
        assert before == []
        assert [p["pid"] for p in event.data["processes"] if p["name"] == "app"] == [200]
        assert took < 1.0, f"the change took {took:.3f}s to arrive"
        assert event.data == get_json(served.url, status_path, headers)[1]

        feed_status(redis_client, shop, 300, "EXITED")
        event, _ = stream.until("status")
        row = next(p for p in event.data["processes"] if p["name"] == "app")
        assert (row["state"], row["pid"], event.data["state"]) == ("EXITED", None, "partial")


def test_history_and_job_events(serve: Callable[..., Served], redis_client: redis.Redis) -> None:
    served = serve()
    shop = served.world.shop_id
    with served.stream(f"/apps/{shop}/events", served.session()) as stream:
        stream.until("status")
        feed_history(redis_client, shop, [CRASH, RESTART])
        event, _ = stream.until("history")
        entries = event.data["history"]
        assert [e["to"] for e in entries] == ["STARTING", "EXITED"]  # newest first
        assert entries[1]["log_tail"] == CRASH["log_tail"]
        assert entries[1]["at"] == "2025-12-06T05:46:40+00:00"
        assert entries[0]["who"] == "uid 1000, pid 77 (unix socket)"
        assert event.data["more"] is False

        live_events.publish_app_event(redis_client, shop, "job")
        job, _ = stream.until("job")
        assert (job.data["app"], job.data["kind"]) == (shop, "job")
        live_events.publish_app_event(redis_client, shop, "usage")
        usage, _ = stream.until("usage")
        assert usage.data["kind"] == "usage"


def test_history_routes(serve: Callable[..., Served], redis_client: redis.Redis) -> None:
    served = serve()
    shop = served.world.shop_id
    many = [
        {**RESTART, "time": 1765000000.0 + i, "description": f"n{i}"}
        for i in range(live_events.HISTORY_KEEP)
    ]
    live_events.append_history(redis_client, shop, many)
    token, cookie = served.token(), served.session()
    code, data = get_json(served.url, f"/api/v1/apps/{shop}/history", token)
    assert code == 200 and data["limit"] == 50 and data["more"] is True
    assert [e["description"] for e in data["history"][:2]] == ["n199", "n198"]
    code, data = get_json(served.url, f"/api/v1/apps/{shop}/history?limit=3", token)
    assert [e["description"] for e in data["history"]] == ["n199", "n198", "n197"]
    code, data = get_json(served.url, f"/api/v1/apps/{shop}/history?limit=9999", token)
    assert len(data["history"]) == live_events.HISTORY_KEEP and data["more"] is False
    code, data = get_json(served.url, f"/api/v1/apps/{shop}/history?limit=many", token)
    assert code == 400 and data["error"]["field"] == "limit"
    code, data = get_json(served.url, f"/apps/{shop}/history.json?limit=2", cookie)
    assert code == 200 and [e["description"] for e in data["history"]] == ["n199", "n198"]


def test_another_tenants_app_is_404_and_never_streamed(
    serve: Callable[..., Served], redis_client: redis.Redis
) -> None:
    """Attack test: alice (tenant Acme) asks for Beta's app blog by id through every route,
    and listens on her own streams while blog changes: 404 everywhere, and nothing of blog
    ever arrives."""
    served = serve()
    shop, blog = served.world.shop_id, served.world.blog_id
    secret = "blog-secret-marker"
    write_app_status(redis_client, blog, [process("app", 31337)])
    live_events.append_history(redis_client, blog, [{**CRASH, "log_tail": secret}])
    cookie, token = served.session(), served.token()
    for path, headers in (
        (f"/apps/{blog}/events", cookie),
        (f"/apps/{blog}/history.json", cookie),
        (f"/apps/{blog}/history", cookie),
        (f"/api/v1/apps/{blog}/events", token),
        (f"/api/v1/apps/{blog}/history", token),
    ):
        with served.stream(path, headers) as answer:
            body = answer.body()
            assert answer.status == 404, path
            assert secret not in body and "31337" not in body, path

    with (
        served.stream(f"/apps/{shop}/events", cookie) as page,
        served.stream(f"/api/v1/apps/{shop}/events", token) as api,
        served.stream("/apps/events", cookie) as listing,
    ):
        first_list = listing.until("status")[0].data["apps"]
        assert set(first_list) == {str(shop)}
        for stream in (page, api):
            stream.until("status")
        for kind in ("status", "history", "job", "usage"):
            live_events.publish_app_event(redis_client, blog, kind)
        feed_status(redis_client, blog, 31338)
        # Then one change of shop's: each stream's next event is shop's, nothing before it.
        feed_status(redis_client, shop, 900)
        for stream in (page, api):
            event, before = stream.until("status")
            assert before == [] and event.data["app"] == shop
            assert "31337" not in str(event.data) and "31338" not in str(event.data)
        event, before = listing.until("status")
        assert before == [] and set(event.data["apps"]) == {str(shop)}


def test_the_apps_list_stream_sees_an_app_created_later(
    serve: Callable[..., Served], redis_client: redis.Redis
) -> None:
    served = serve()
    with served.stream("/apps/events", served.session()) as listing:
        assert set(listing.until("status")[0].data["apps"]) == {str(served.world.shop_id)}
        with served.app.app_context():
            session = get_session()
            shop = session.get(App, served.world.shop_id)
            new = services.create_app(session, shop.tenant, shop.host, "later", "python").id
            session.commit()
        feed_status(redis_client, new, 4000)
        event, _ = listing.until("status", lambda d: str(new) in d["apps"])
        assert event.data["apps"][str(new)]["running"] == 2


def test_a_burst_is_coalesced(serve: Callable[..., Served], redis_client: redis.Redis) -> None:
    """Fifty status messages at once: a handful of reads, not fifty."""
    served = serve(EVENT_COALESCE_SECONDS=0.1)
    shop = served.world.shop_id
    with served.stream(f"/api/v1/apps/{shop}/events", served.token()) as stream:
        stream.until("status")
        for pid in range(1000, 1050):
            feed_status(redis_client, shop, pid)
        live_events.publish_app_event(redis_client, shop, "usage")  # the burst's end
        _usage, before = stream.until("usage")
        statuses = [e for e in before if e.name == "status"]
        assert 1 <= len(statuses) <= 3, len(statuses)
        last = next(p for p in statuses[-1].data["processes"] if p["name"] == "app")
        assert last["pid"] == 1049


def test_the_stream_ends_at_its_limit_with_keepalives(
    serve: Callable[..., Served], redis_client: redis.Redis
) -> None:
    served = serve(EVENT_STREAM_SECONDS=1.0, EVENT_KEEPALIVE_SECONDS=0.2)
    with served.stream(f"/apps/{served.world.shop_id}/events", served.session()) as stream:
        started = time.monotonic()
        assert stream.next() is not None  # the status
        assert stream.next(timeout=5.0) is None  # then nothing but keep-alives, then the end
        assert stream.ended and 0.9 < time.monotonic() - started < 3.0
        assert stream.comments.count("keep-alive") >= 3


def test_a_logged_out_session_ends_its_stream(
    serve: Callable[..., Served], redis_client: redis.Redis
) -> None:
    served = serve(EVENT_KEEPALIVE_SECONDS=0.2)
    cookie = served.session()
    with served.stream(f"/apps/{served.world.shop_id}/events", cookie) as stream:
        stream.until("status")
        with served.app.app_context():
            session = get_session()
            end_user_sessions(session, session.get(User, served.world.alice_id))
            session.commit()
        assert stream.next(timeout=5.0) is None


def test_streams_beyond_the_cap_get_503(
    serve: Callable[..., Served], redis_client: redis.Redis
) -> None:
    served = serve(EVENT_STREAMS_MAX=1, EVENT_KEEPALIVE_SECONDS=0.1)
    shop, token = served.world.shop_id, served.token()
    path = f"/api/v1/apps/{shop}/events"
    with served.stream(path, token) as held:
        held.until("status")
        with served.stream(path, token) as refused:
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "30"
            assert "too many event streams" in refused.body()
        with served.stream(f"/apps/{shop}/events", served.session()) as refused:
            assert refused.status == 503
    # The held stream is closed: its slot comes back once the server notices (next write).
    deadline = time.monotonic() + 10
    while True:
        with served.stream(path, token) as again:
            if again.status == 200:
                assert again.next() is not None
                break
        assert time.monotonic() < deadline, "the closed stream's slot never came back"
        time.sleep(0.1)


def test_redis_away_is_a_503_the_page_can_poll_past(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = serve(REDIS_URL=f"unix://{tmp_path}/no-redis.sock")
    path = f"/api/v1/apps/{served.world.shop_id}/events"
    with served.stream(path, served.token()) as answer:
        assert answer.status == 503 and answer.headers["Retry-After"] == "30"
        assert "Redis does not answer" in answer.body()
    assert served.app.extensions["event_slots"].open == 0
