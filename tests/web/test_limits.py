"""Input past what the platform can hold, refused with a clear answer at every route: ids
past the database's range (404), JSON too deep or not JSON at all (400), names the runtime
reserves (a form error in the panel, 400 naming the field in the API)."""

from __future__ import annotations

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting.db import MAX_ID

from tests.web.fixtures import AuthActions, World
from tests.web.routes import ROUTES, Route, request, url
from tests.web.test_rules import ids, snapshot

ID_ROUTES = [r for r in ROUTES if any(name.endswith("_id") for name in r.arguments)]
HUGE_IDS = ("99999999999999999999", str(MAX_ID + 1), "9" * 400)


def test_every_kind_of_id_is_covered() -> None:
    covered = {name for route in ID_ROUTES for name in route.arguments if name.endswith("_id")}
    assert covered == {"app_id", "job_id", "token_id", "tenant_id", "user_id"}
    assert len([r for r in ID_ROUTES if r.is_api]) >= 9


@pytest.mark.parametrize("huge", HUGE_IDS)
@pytest.mark.parametrize("route", ID_ROUTES, ids=ids(ID_ROUTES))
def test_ids_past_the_database_range_are_404(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    world: World,
    route: Route,
    huge: str,
    redis_client: redis.Redis,
) -> None:
    """As the admin (who may see everything): every id of the route is out of range."""
    auth.login("root@example.com")
    admin_token = _admin_token(app, world)
    values = {name: huge for name in route.arguments if name.endswith("_id")}
    target = url(app, route, world, **values)
    assert huge in target
    before = snapshot(app, redis_client)
    headers = {"Authorization": f"Bearer {admin_token}"} if route.is_api else {}
    response = request(client, route.method, target, headers=headers, json={}, data=None)
    assert response.status_code == 404, (route.id, response.status_code, response.data[:300])
    if route.is_api:
        assert response.json["error"]["message"]
    assert snapshot(app, redis_client) == before


def _admin_token(app: Flask, world: World) -> str:
    from hosting import tokens
    from hosting.models import User

    from admin_web.extensions import get_session

    with app.app_context():
        session = get_session()
        _row, plain = tokens.create_token(session, session.get(User, world.admin_id), "limits")
        session.commit()
        return plain


def test_the_largest_id_is_a_plain_not_found(
    client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login("root@example.com")
    assert client.get(f"/apps/{MAX_ID}").status_code == 404
    headers = {"Authorization": f"Bearer {world.alice_token}"}
    response = client.get(f"/api/v1/apps/{MAX_ID}", headers=headers)
    assert response.status_code == 404 and response.json["error"]["message"] == f"no app {MAX_ID}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "the body is not valid JSON: it is nested too deeply"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "it is nested too deeply"),
        (b"[" * 50_000, "it is nested too deeply"),
        (b'{"name": "x",', "the body is not valid JSON: Expecting property name"),
        (b'{"name": "\xff"}', "the body is not valid JSON"),
        (b"1" * 5000, "the body is not valid JSON"),  # past int()'s digit limit
        (b"[1, 2]", "the body must be a JSON object"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/apps", "/api/v1/apps/{shop}/logs"])
def test_bodies_the_parser_refuses_are_400(
    client: FlaskClient, world: World, body: bytes, message: str, path: str
) -> None:
    response = client.post(
        path.format(shop=world.shop_id),
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 400, response.data[:300]
    assert message in response.json["error"]["message"]
    assert response.json["error"]["field"] == "body"


# -- names the runtime reserves -----------------------------------------------------------

RESERVED_APP_NAMES = [("all", "'all' is reserved: it means every program (supervisorctl's too)")]
RESERVED_PROGRAM_NAMES = [
    ("all", "'all' is reserved: it means every program"),
    ("-100", "must not start with '-'"),
    ("a:b", "not a valid name"),
    ("supervisord", "reserved for the runtime itself"),
]


@pytest.mark.parametrize(("name", "message"), RESERVED_APP_NAMES)
def test_reserved_app_name_in_the_api_is_400_naming_the_field(
    client: FlaskClient, world: World, redis_client: redis.Redis, name: str, message: str
) -> None:
    response = client.post(
        "/api/v1/apps",
        json={"name": name, "tech": "python"},
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 400
    assert response.json["error"] == {"message": message, "field": "name"}
    assert redis_client.keys("rq:queue:*") == []


@pytest.mark.parametrize(("name", "message"), RESERVED_APP_NAMES)
def test_reserved_app_name_in_the_panel_is_a_form_error(
    client: FlaskClient, auth: AuthActions, world: World, name: str, message: str
) -> None:
    auth.login()
    response = client.post("/apps/new", data={"name": name, "tech": "python", "tenant": "acme"})
    assert response.status_code == 400
    page = response.data.decode()
    assert f'data-field-error="name">{message}' in page.replace("&#39;", "'")


@pytest.mark.parametrize(("name", "message"), RESERVED_PROGRAM_NAMES)
def test_reserved_program_name_in_the_panel_is_a_form_error(
    client: FlaskClient,
    auth: AuthActions,
    world: World,
    redis_client: redis.Redis,
    name: str,
    message: str,
) -> None:
    auth.login()
    response = client.post(
        f"/apps/{world.shop_id}/programs/new", data={"name": name, "command": "python w.py"}
    )
    assert response.status_code == 400
    assert 'data-field-error="name">' in response.data.decode()
    assert message in response.data.decode().replace("&#39;", "'")
    assert redis_client.keys("rq:queue:*") == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/apps",
            {"name": "x", "tech": "python", "tenant": "acme", "host": "9" * 30},
            "host",
        ),
        ("/api/v1/apps", {"name": "x", "tech": "python", "tenant": 9 * 10**30}, "tenant"),
        ("/api/v1/apps/{shop}/logs", {"program": "app", "bytes": 9 * 10**30}, "bytes"),
    ],
)
def test_huge_numbers_in_bodies_are_400_naming_the_field(
    app: Flask, client: FlaskClient, world: World, path: str, body: dict, field: str
) -> None:
    response = client.post(
        path.format(shop=world.shop_id),
        json=body,
        headers={"Authorization": f"Bearer {_admin_token(app, world)}"},
    )
    assert response.status_code == 400, response.data[:300]
    assert response.json["error"]["field"] == field
