"""The JSON API: token auth, apps, services, programs, logs, jobs, errors, OpenAPI."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting.status import write_app_status

from admin_web.extensions import get_session
from tests.web.fixtures import World, rq_job_ids
from tests.web.routes import ROUTES


class Api:
    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.open(f"/api/v1{path}", method=method, headers=self.headers, **kwargs)


def test_missing_wrong_and_malformed_tokens_are_401(client: FlaskClient, world: World) -> None:
    assert client.get("/api/v1/apps").status_code == 401
    for header in (
        "Bearer",
        "Bearer hst_wrong_token",
        "Basic YTpi",
        f"Bearer {world.alice_token}x",
        world.alice_token,
    ):
        response = client.get("/api/v1/apps", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json["error"]["message"]


def test_list_and_show_apps(client: FlaskClient, world: World) -> None:
    api = Api(client, world.alice_token)
    apps = api("GET", "/apps").json["apps"]
    assert [a["name"] for a in apps] == ["shop"]
    assert apps[0]["tenant"]["slug"] == "acme" and apps[0]["status"]["state"] == "unknown"
    shown = api("GET", f"/apps/{world.shop_id}").json["app"]
    assert {s["name"] for s in shown["services"]} == {"app", "cron"}
    assert api("GET", "/apps/999999").status_code == 404


def test_create_and_delete_app(
    app: Flask, client: FlaskClient, world: World, redis_client: redis.Redis
) -> None:
    api = Api(client, world.alice_token)
    response = api("POST", "/apps", json={"name": "api", "tech": "python"})
    assert response.status_code == 202, response.json
    created, job = response.json["app"], response.json["job"]
    assert created["host"] == "h1" and job["kind"] == "create_app"
    assert job["id"] in rq_job_ids(redis_client, "host.h1")
    response = api("POST", "/apps", json={"name": "API!", "tech": "python"})
    assert response.status_code == 400 and response.json["error"]["field"] == "name"
    response = api("POST", "/apps", json={"name": "x", "tech": "cobol"})
    assert response.json["error"] == {
        "message": "must be one of python, node, php, custom",
        "field": "tech",
    }
    response = api("POST", "/apps", json={"name": "x", "tech": "node", "host": "h2"})
    assert response.status_code == 400 and response.json["error"]["field"] == "host"
    response = api("POST", "/apps", json=["not", "an", "object"])
    assert response.status_code == 400 and response.json["error"]["field"] == "body"
    response = api("POST", "/apps", json={"tech": "node"})
    assert response.status_code == 400 and response.json["error"]["field"] == "name"
    response = api("DELETE", f"/apps/{created['id']}")
    assert response.status_code == 202 and response.json["job"]["kind"] == "delete_app"


def test_admin_creates_an_app_on_a_chosen_host(
    client: FlaskClient, world: World, app: Flask, redis_client: redis.Redis
) -> None:
    from hosting import tokens
    from hosting.models import User

    with app.app_context():
        session = get_session()
        _row, token = tokens.create_token(session, session.get(User, world.admin_id), "ops")
        session.commit()
    api = Api(client, token)
    response = api(
        "POST", "/apps", json={"name": "api", "tech": "node", "tenant": "beta", "host": "h2"}
    )
    assert response.status_code == 202
    assert rq_job_ids(redis_client, "host.h2") == [response.json["job"]["id"]]
    assert len(api("GET", "/apps").json["apps"]) == 3


def test_services_enable_disable(client: FlaskClient, world: World) -> None:
    api = Api(client, world.alice_token)
    response = api("POST", f"/apps/{world.shop_id}/services/memcached/enable")
    assert response.status_code == 202
    assert response.json["service"]["kind"] == "memcached"
    assert response.json["job"]["kind"] == "apply_services"
    names = {
        s["name"]: s["enabled"]
        for s in api("GET", f"/apps/{world.shop_id}/services").json["services"]
    }
    assert names["memcached"] is True
    api("POST", f"/apps/{world.shop_id}/services/memcached/disable")
    names = {
        s["name"]: s["enabled"]
        for s in api("GET", f"/apps/{world.shop_id}/services").json["services"]
    }
    assert names["memcached"] is False
    assert api("POST", f"/apps/{world.shop_id}/services/nginx2/enable").status_code == 404
    response = api("POST", f"/apps/{world.shop_id}/services/app/disable")
    assert response.status_code == 400 and response.json["error"]["field"] == "name"


def test_program_actions(client: FlaskClient, world: World, redis_client: redis.Redis) -> None:
    api = Api(client, world.alice_token)
    for action in ("start", "stop", "restart"):
        response = api("POST", f"/apps/{world.shop_id}/programs/cron/{action}")
        assert response.status_code == 202
        assert response.json["job"]["arguments"] == {"action": action, "program": "cron"}
    assert len(rq_job_ids(redis_client, "host.h1")) == 3
    response = api("POST", f"/apps/{world.shop_id}/programs/cron/kill")
    assert response.status_code == 400 and response.json["error"]["field"] == "action"
    response = api("POST", f"/apps/{world.shop_id}/programs/ghost/start")
    assert response.status_code == 400 and response.json["error"]["field"] == "program"


def test_log_tail_is_no_job(app: Flask, client: FlaskClient, world: World) -> None:
    """Refusals, and the answer when no worker reads it (none runs here; the real read is
    tests/workers/test_log_reads.py)."""
    api = Api(client, world.alice_token)
    jobs_before = api("GET", f"/apps/{world.shop_id}/jobs").json["jobs"]
    response = api("GET", f"/apps/{world.shop_id}/logs?program=app&bytes=2048")
    assert response.status_code == 503 and "did not answer" in response.json["error"]["message"]
    response = api("POST", f"/apps/{world.shop_id}/logs", json={"bytes": 0})
    assert response.status_code == 400 and response.json["error"]["field"] == "bytes"
    response = api("POST", f"/apps/{world.shop_id}/logs", json={"channel": "stdin"})
    assert response.status_code == 400 and response.json["error"]["field"] == "channel"
    response = api("GET", f"/apps/{world.shop_id}/logs?bytes=lots")
    assert response.status_code == 400 and response.json["error"]["field"] == "bytes"
    assert api("GET", f"/apps/{world.shop_id}/jobs").json["jobs"] == jobs_before


def test_status(client: FlaskClient, world: World, redis_client: redis.Redis) -> None:
    data = Api(client, world.alice_token)("GET", f"/apps/{world.shop_id}/status").json
    assert data["state"] == "unknown" and len(data["processes"]) == 2
    assert data["notices"] == []
    notice = {"file": "/srv/conf/supervisor.d/mine.conf", "line": 7, "section": "program:r",
              "key": "numprocs", "value": "l", "error": "not an integer: 'l'"}
    write_app_status(redis_client, world.shop_id, [], notices=[notice])
    data = Api(client, world.alice_token)("GET", f"/apps/{world.shop_id}/status").json
    assert data["notices"] == [notice]


def test_other_users_jobs_are_404(client: FlaskClient, world: World) -> None:
    assert Api(client, world.bob_token)("GET", f"/jobs/{world.shop_job_id}").status_code == 404
    assert Api(client, world.bob_token)("GET", "/jobs/no-such-job").status_code == 404


def test_openapi_describes_every_api_route(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    described = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    for route in ROUTES:
        if not route.is_api or route.endpoint == "api.openapi":
            continue
        path = route.rule.removeprefix("/api/v1")
        for converter in ("int:", "any(enable, disable):"):
            path = path.replace(f"<{converter}", "<")
        path = path.replace("<", "{").replace(">", "}")
        assert (path, route.method) in described, route.id
    assert len(described) == len([r for r in ROUTES if r.is_api]) - 1
