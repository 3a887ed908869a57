"""Rules that hold for every route: classification, login required, tenant isolation,
admin-only pages, GET never changes state, CSRF on every form."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting.metric_store import KEY_PREFIX as METRICS_KEY_PREFIX
from sqlalchemy import text

from admin_web.extensions import databases
from tests.web.fixtures import PASSWORD, SHORT_ROOT, AuthActions, World
from tests.web.routes import PUBLIC, ROUTES, Route, request, url

PAGE_ROUTES = [r for r in ROUTES if not r.is_api and r.endpoint not in PUBLIC]
OWNED_PAGES = [r for r in PAGE_ROUTES if r.is_owned]
OWNED_API = [r for r in ROUTES if r.is_api and r.is_owned]
ADMIN_ROUTES = [r for r in ROUTES if r.is_admin]
API_PRIVATE = [r for r in ROUTES if r.is_api and r.endpoint not in PUBLIC]
GET_ROUTES = [r for r in ROUTES if r.method == "GET" and r.endpoint != "static"]
FORM_POSTS = [r for r in ROUTES if r.method == "POST" and not r.is_api]
LOG_READS = {"apps.logs_json", "api.read_log"}
# Answered 503 here, by design: no worker runs in these tests (a log read asks one; /readyz
# says none is live).
NO_WORKER_503 = {*LOG_READS, "health.readyz"}


# What the owner sends where an empty JSON object is not a valid request.
API_BODIES: dict[str, dict[str, Any]] = {
    "api.add_program": {"json": {"name": "extra", "command": "python worker.py"}},
    "api.change_program": {"json": {"command": "python cron.py --fast"}},
    "api.change_service": {"json": {"port": 8081}},
    "api.apply_spec": {"data": '[programs.cron]\ncommand = "python cron.py"\n'},
    "api.preview_spec": {"data": ""},
}


def ids(routes: list[Route]) -> list[str]:
    return [route.id for route in routes]


def test_every_route_is_classified() -> None:
    """Every route is public, a page behind login, or an API route behind a token; and
    the ones with an app/job/token in the path are in the isolation tests."""
    for route in ROUTES:
        assert route.endpoint in PUBLIC or route.endpoint.split(".")[0] in {
            "auth",
            "apps",
            "live",
            "admin",
            "jobs",
            "api",
        }, route
    assert {r.endpoint for r in OWNED_PAGES} >= {
        "apps.detail",
        "apps.status",
        "apps.control",
        "apps.toggle_service",
        "apps.logs",
        "apps.logs_json",
        "apps.retry",
        "apps.jobs",
        "apps.delete",
        "apps.program_new",
        "apps.program_edit",
        "apps.program_remove",
        "jobs.show",
        "auth.revoke_token",
        "apps.history",
        "apps.history_json",
        "live.app_stream",
    }
    assert len(OWNED_API) >= 9


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=ids(PAGE_ROUTES))
def test_pages_need_login(app: Flask, client: FlaskClient, world: World, route: Route) -> None:
    response = request(client, route.method, url(app, route, world))
    if route.rule.endswith(".json"):
        assert response.status_code == 401
        assert response.json["error"]["message"] == "log in first"
    else:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("route", OWNED_PAGES, ids=ids(OWNED_PAGES))
def test_other_tenants_things_are_404_on_pages(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    world: World,
    route: Route,
    redis_client: redis.Redis,
) -> None:
    auth.login("bob@beta.example")
    before = snapshot(app, redis_client)
    response = request(client, route.method, url(app, route, world), data={"confirm": "shop"})
    assert response.status_code == 404, response.data[:500]
    assert snapshot(app, redis_client) == before


@pytest.mark.parametrize("route", OWNED_API, ids=ids(OWNED_API))
def test_other_tenants_things_are_404_in_the_api(
    app: Flask, client: FlaskClient, world: World, route: Route, redis_client: redis.Redis
) -> None:
    before = snapshot(app, redis_client)
    response = request(
        client,
        route.method,
        url(app, route, world),
        headers={"Authorization": f"Bearer {world.bob_token}"},
        json={},
    )
    assert response.status_code == 404, response.data[:500]
    assert response.json["error"]["message"]
    assert snapshot(app, redis_client) == before


@pytest.mark.parametrize("route", OWNED_PAGES + OWNED_API, ids=ids(OWNED_PAGES + OWNED_API))
def test_the_owner_reaches_the_same_urls(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, route: Route
) -> None:
    """The 404s above are about ownership: the same URLs work for tenant A."""
    auth.login("alice@acme.example")
    headers = {"Authorization": f"Bearer {world.alice_token}"} if route.is_api else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if route.endpoint in API_BODIES:
        kwargs.update(API_BODIES[route.endpoint])
    elif route.is_api and route.method != "GET":
        kwargs["json"] = {}
    elif route.method == "POST":
        kwargs["data"] = {"confirm": "shop", "command": "python worker.py", "name": "extra"}
    response = request(client, route.method, url(app, route, world), **kwargs)
    expected = {200, 202, 302}
    if route.endpoint in LOG_READS:
        expected = {503}  # no worker answers a log read in these tests
    if route.endpoint == "api.retry_job":
        expected = {400}  # the world's job is queued, not failed: refused for that reason
    assert response.status_code in expected, (response.status_code, response.data[:500])


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=ids(ADMIN_ROUTES))
def test_admin_pages_are_403_for_members(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    world: World,
    route: Route,
    redis_client: redis.Redis,
) -> None:
    auth.login("alice@acme.example")
    before = snapshot(app, redis_client)
    response = request(client, route.method, url(app, route, world), data={"active": "0"})
    assert response.status_code == 403
    assert snapshot(app, redis_client) == before


@pytest.mark.parametrize("route", API_PRIVATE, ids=ids(API_PRIVATE))
def test_api_needs_a_token_not_a_cookie(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    world: World,
    route: Route,
    redis_client: redis.Redis,
) -> None:
    auth.login("alice@acme.example")  # a valid session cookie must not count
    before = snapshot(app, redis_client)
    response = request(client, route.method, url(app, route, world), json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(app, redis_client) == before


def snapshot(app: Flask, redis_client: redis.Redis) -> dict[str, Any]:
    """Every row of every table, and every Redis key with its value, except what a GET may
    legitimately touch (an API token's last-use time, RQ's list of queue names, the
    panel's request counters for /metrics)."""
    engine = databases(app).write_engine
    tables: dict[str, Any] = {}
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ).scalars()
        for name in list(names):
            rows = connection.execute(text(f'SELECT * FROM "{name}"')).mappings().all()
            tables[name] = sorted(
                repr(sorted((k, v) for k, v in row.items() if k != "last_used_at")) for row in rows
            )
    keys = {}
    # RQ's set of queue names: a host's queue is named there once anything used it, a
    # log read too (whose request and answer are gone once read).
    counters = (METRICS_KEY_PREFIX + "panel").encode()
    for key in sorted(set(redis_client.keys("*")) - {b"rq:queues", counters}):
        kind = redis_client.type(key)
        keys[key] = (kind, redis_client.dump(key))
    return {"tables": tables, "redis": keys}


@pytest.mark.parametrize("who", ["root@example.com", "alice@acme.example"])
def test_get_never_changes_state(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    world: World,
    who: str,
    redis_client: redis.Redis,
) -> None:
    auth.login(who)
    token = world.alice_token
    before = snapshot(app, redis_client)
    for route in GET_ROUTES:
        headers = {"Authorization": f"Bearer {token}"} if route.is_api else {}
        response = client.get(url(app, route, world), headers=headers)
        # A log read asks the app's host, and no worker answers here: 503, nothing left.
        expected = (503,) if route.endpoint in NO_WORKER_503 else (200, 403)
        if route.endpoint == "metrics.metrics":
            expected = (404,)  # no METRICS_TOKEN is set here: no metrics at all
        assert response.status_code in expected, (route.id, response.status_code)
    assert snapshot(app, redis_client) == before


CSRF_INPUT = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def csrf_app(app_config: dict[str, Any], fast_passwords: None) -> Any:
    from admin_web import create_app

    application = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    yield application
    databases(application).dispose()


def csrf_login(client: FlaskClient, email: str) -> str:
    page = client.get("/login")
    token = CSRF_INPUT.search(page.data).group(1).decode()
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    page = client.get("/account/tokens")
    return CSRF_INPUT.search(page.data).group(1).decode()


def test_login_form_needs_csrf(csrf_app: Flask, tmp_path: Any) -> None:
    from tests.web.fixtures import populate

    populate(csrf_app, SHORT_ROOT)
    client = csrf_app.test_client()
    response = client.post("/login", data={"email": "alice@acme.example", "password": PASSWORD})
    assert response.status_code == 400
    assert b"CSRF" in response.data


@pytest.mark.parametrize("route", FORM_POSTS, ids=ids(FORM_POSTS))
def test_every_form_needs_csrf(
    csrf_app: Flask, tmp_path: Any, route: Route, redis_client: redis.Redis
) -> None:
    from tests.web.fixtures import populate

    world = populate(csrf_app, SHORT_ROOT)
    client = csrf_app.test_client()
    token = csrf_login(client, "root@example.com")
    before = snapshot(csrf_app, redis_client)
    target = url(csrf_app, route, world)
    response = client.post(target, data={"confirm": "shop", "active": "0"})
    assert response.status_code == 400, (route.id, response.data[:300])
    assert b"CSRF" in response.data
    assert snapshot(csrf_app, redis_client) == before
    # The same request with the token is let through (whatever the view then says).
    response = client.post(target, data={"confirm": "shop", "active": "0", "csrf_token": token})
    assert response.status_code != 400 or b"CSRF" not in response.data


def test_api_is_exempt_from_csrf(csrf_app: Flask, tmp_path: Any) -> None:
    from tests.web.fixtures import populate

    world = populate(csrf_app, SHORT_ROOT)
    client = csrf_app.test_client()
    response = client.post(
        f"/api/v1/apps/{world.shop_id}/programs/app/restart",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 202
