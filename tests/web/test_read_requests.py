"""GET and HEAD requests only read: on SQLite their transactions take no write lock, so a
client polling the status never holds up a worker's write (and a writer never holds up the
poll); the one write they make, a credential's last use, still lands."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hosting.models import ApiToken, LoginSession, utcnow
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from admin_web.extensions import LOGIN_SESSION_KEY, databases, get_session
from tests.web.fixtures import AuthActions, World


def database_path(app_config: dict[str, Any]) -> str:
    return app_config["DATABASE_URL"].removeprefix("sqlite:///")


@contextmanager
def write_lock_held(app_config: dict[str, Any]) -> Iterator[None]:
    """Another process's writer in the middle of its transaction (a worker claiming a job)."""
    connection = sqlite3.connect(database_path(app_config), isolation_level=None, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE jobs SET error = error")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_gets_answer_while_a_writer_holds_the_lock(
    app_config: dict[str, Any], client: FlaskClient, world: World, auth: AuthActions
) -> None:
    headers = {"Authorization": f"Bearer {world.alice_token}"}
    api_reads = ["/api/v1/apps", f"/api/v1/apps/{world.shop_id}/status", "/api/v1/me"]
    page_reads = ["/", f"/apps/{world.shop_id}", f"/apps/{world.shop_id}/status.json"]
    # The credentials' first uses are written now (a due last use takes the write lock).
    auth.login()
    for path in page_reads:
        assert client.get(path).status_code == 200, path
    for path in api_reads:
        assert client.get(path, headers=headers).status_code == 200, path

    with write_lock_held(app_config):
        # An IMMEDIATE transaction would wait here for the lock (SQLite's busy timeout).
        for path in page_reads:
            assert client.get(path).status_code == 200, path
        for path in api_reads:
            assert client.get(path, headers=headers).status_code == 200, path
        assert (
            client.head(f"/api/v1/apps/{world.shop_id}/status", headers=headers).status_code == 200
        )


def test_a_due_last_use_is_written_by_a_get(
    app: Flask, client: FlaskClient, world: World, auth: AuthActions
) -> None:
    auth.login()
    with client.session_transaction() as cookie_session:
        assert cookie_session[LOGIN_SESSION_KEY]
    long_ago = utcnow() - timedelta(minutes=10)
    with databases(app).writes() as session:
        session.execute(ApiToken.__table__.update().values(last_used_at=long_ago))
        session.execute(LoginSession.__table__.update().values(last_used_at=long_ago))
        session.commit()

    assert client.get("/").status_code == 200
    headers = {"Authorization": f"Bearer {world.alice_token}"}
    assert client.get("/api/v1/apps", headers=headers).status_code == 200

    with databases(app).writes() as session:
        (login_used,) = session.scalars(select(LoginSession.last_used_at)).all()
        token_used = session.get(ApiToken, world.alice_token_id).last_used_at
    for used in (login_used, token_used):
        assert used is not None and used.replace(tzinfo=None) > long_ago.replace(tzinfo=None)


def test_a_get_requests_session_refuses_to_write(app: Flask, world: World) -> None:
    refused = pytest.raises(OperationalError, match="readonly")
    with app.test_request_context("/", method="GET"), refused:
        get_session().execute(text("UPDATE jobs SET error = error"))
    with app.test_request_context("/", method="POST"):
        get_session().execute(text("UPDATE jobs SET error = error"))  # a POST writes
