"""Fixtures for the panel tests (flaskr style: ``app``, ``client``, ``auth``), over a real
redis-server (one per test session, flushed per test) and a migrated SQLite database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting import db, services, tokens
from hosting.job_records import record_job

from admin_web import create_app
from admin_web.extensions import databases
from tests.web.redis_server import RedisServer, start_redis

PASSWORD = "correct horse battery"
SHORT_ROOT = Path("/srv/paneltest")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-template") / "hosting.db"
    db.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@dataclass
class World:
    """Ids of what ``world`` created: tenant A (alice, app shop on h1), tenant B (bob, app
    blog on h2), an admin, and one job on shop."""

    admin_id: int
    alice_id: int
    bob_id: int
    shop_id: int
    blog_id: int
    shop_job_id: str
    blog_job_id: str
    alice_token: str
    bob_token: str
    alice_token_id: int


def make_config(url: str, redis_url: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "HOSTING_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        # No worker answers log reads in these tests: say so after 1 s, not 15.
        "LOG_READ_SECONDS": 1,
        **extra,
    }


def populate(app: Flask, apps_root: Path) -> World:
    from admin_web.extensions import get_session

    with app.app_context():
        session = get_session()
        admin = services.create_user(session, "root@example.com", PASSWORD, is_admin=True)
        alice = services.create_user(session, "alice@acme.example", PASSWORD)
        bob = services.create_user(session, "bob@beta.example", PASSWORD)
        # Nothing is written under these roots here (no workers run); they are short
        # because a runtime's socket path inside them must fit a unix socket address.
        h1 = services.create_host(session, "h1", str(apps_root / "h1"))
        h2 = services.create_host(session, "h2", str(apps_root / "h2"))
        acme = services.create_tenant(session, "Acme", "acme")
        beta = services.create_tenant(session, "Beta", "beta")
        services.add_member(session, acme, alice, "owner")
        services.add_member(session, beta, bob, "member")
        shop = services.create_app(session, acme, h1, "shop", "python")
        blog = services.create_app(session, beta, h2, "blog", "node")
        services.add_service(session, shop, "custom", "cron", {"command": "python cron.py"})
        services.add_service(session, blog, "custom", "feeds", {"command": "node feeds.js"})
        shop_job = record_job(session, "apply_services", app=shop, user=alice)
        blog_job = record_job(session, "apply_services", app=blog, user=bob)
        alice_token, alice_plain = tokens.create_token(session, alice, "cli")
        _bob_token, bob_plain = tokens.create_token(session, bob, "cli")
        session.commit()
        return World(
            admin_id=admin.id,
            alice_id=alice.id,
            bob_id=bob.id,
            shop_id=shop.id,
            blog_id=blog.id,
            shop_job_id=shop_job.id,
            blog_job_id=blog_job.id,
            alice_token=alice_plain,
            bob_token=bob_plain,
            alice_token_id=alice_token.id,
        )


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hosting.passwords.N", 2**8)


@pytest.fixture
def app_config(
    db_template: Path, tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis
) -> dict[str, Any]:
    path = tmp_path / "hosting.db"
    shutil.copyfile(db_template, path)
    return make_config(f"sqlite:///{path}", redis_server.url, tmp_path)


@pytest.fixture
def app(app_config: dict[str, Any], fast_passwords: None) -> Iterator[Flask]:
    application = create_app(app_config)
    yield application
    databases(application).dispose()
    application.extensions["redis"].close()


@pytest.fixture
def world(app: Flask) -> World:
    return populate(app, SHORT_ROOT)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str = "alice@acme.example", password: str = PASSWORD) -> Any:
        return self._client.post("/login", data={"email": email, "password": password})

    def logout(self) -> Any:
        return self._client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


def rq_job_ids(client: redis.Redis, queue: str) -> list[str]:
    """The ids of the RQ jobs waiting on ``queue``."""
    return [raw.decode() for raw in client.lrange(f"rq:queue:{queue}", 0, -1)]
