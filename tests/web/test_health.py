"""/healthz and /readyz against the real database and Redis of the web fixtures, with a
real RQ worker registration."""

from __future__ import annotations

import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting.queue import job_queue
from rq import Worker
from sqlalchemy import text

from tests.web.fixtures import World


def test_healthz_needs_no_login_and_touches_nothing(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_waits_for_a_worker_on_every_host(
    client: FlaskClient, world: World, redis_client: redis.Redis
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["workers"] == "no live worker on the queue of 2 of 2 hosts"
    assert response.headers["Cache-Control"] == "no-store"

    workers = [
        Worker([job_queue(queue, redis_client)], connection=redis_client, name=f"w-{queue}")
        for queue in ("host.h1", "host.h2")
    ]
    workers[0].register_birth()
    try:
        body = client.get("/readyz").get_json()
        assert body["checks"]["workers"] == "no live worker on the queue of 1 of 2 hosts"
        workers[1].register_birth()
        response = client.get("/readyz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == "ready"
    finally:
        for worker in workers:
            worker.register_death()
    # A worker that said goodbye is not counted.
    assert client.get("/readyz").status_code == 503


def test_readyz_names_a_database_behind_this_release(app: Flask, client: FlaskClient) -> None:
    from admin_web.extensions import get_session

    with app.app_context():
        session = get_session()
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        session.commit()
    checks = client.get("/readyz").get_json()["checks"]
    assert checks["database"].startswith("at revision 0001, this release needs ")
    assert checks["database"].endswith(": migrate first")


def test_readyz_names_redis_down(app: Flask, client: FlaskClient) -> None:
    app.extensions["redis"] = redis.Redis(unix_socket_path="/nonexistent/redis.sock")
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["redis"].startswith("not answering: ConnectionError")
    assert checks["workers"] == "unknown: Redis does not answer"
