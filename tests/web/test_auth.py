"""Login, logout, the login rate limit, cookies, API tokens page, request size limit."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting.models import ApiToken

from admin_web.config import build_config
from tests.web.fixtures import PASSWORD, AuthActions, World

URLS = {"DATABASE_URL": "sqlite:////nowhere/hosting.db", "REDIS_URL": "unix:///nowhere/r.sock"}


def test_login_and_logout(client: FlaskClient, auth: AuthActions, world: World) -> None:
    assert client.get("/").status_code == 302
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert b"shop" in page.data and b"blog" not in page.data
    assert client.get("/logout").status_code == 405  # no state change on GET
    assert auth.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused(client: FlaskClient, auth: AuthActions, world: World) -> None:
    response = auth.login(password="not the password")
    assert response.status_code == 401
    assert b"Wrong e-mail or password." in response.data
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login("root@example.com")
    client.post(f"/admin/users/{world.alice_id}/active", data={"active": "0"})
    auth.logout()
    assert auth.login().status_code == 401


def test_login_rate_limit(
    client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    for _ in range(5):
        assert auth.login(password="wrong password!").status_code == 401
    response = auth.login()  # even the right password: the pair is blocked for a while
    assert response.status_code == 429
    assert b"Too many failed attempts" in response.data
    # Another account from the same address is not affected.
    assert auth.login("bob@beta.example").status_code == 302
    # The counter lives in Redis with an expiry (the window), not in clear text.
    keys = redis_client.keys("admin_web:login_failures:*")
    assert len(keys) == 1 and b"alice" not in keys[0]
    assert 0 < redis_client.ttl(keys[0]) <= 300


def test_successful_login_resets_failures(
    client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    for _ in range(4):
        auth.login(password="wrong password!")
    assert auth.login().status_code == 302
    assert redis_client.keys("admin_web:login_failures:*") == []


def test_next_is_only_followed_within_the_site(client: FlaskClient, world: World) -> None:
    data = {"email": "alice@acme.example", "password": PASSWORD}
    response = client.post(f"/login?next=/apps/{world.shop_id}", data=data)
    assert response.headers["Location"] == f"/apps/{world.shop_id}"
    client.post("/logout")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.post("/login", query_string={"next": evil}, data=data)
        assert response.headers["Location"] == "/", evil
        client.post("/logout")


def test_session_cookie_flags(client: FlaskClient, auth: AuthActions, world: World) -> None:
    response = auth.login()
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Tests run on plain http; outside debug/testing the cookie is Secure:
    config = build_config({"SECRET_KEY": "x"}, environ=URLS)
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_security_headers(client: FlaskClient, world: World) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    environ = {"HOSTING_DATA_DIR": str(tmp_path), **URLS}
    first = build_config(None, environ=environ)["SECRET_KEY"]
    assert len(first) >= 40
    assert build_config(None, environ=environ)["SECRET_KEY"] == first
    assert (tmp_path / "admin_web_secret_key").stat().st_mode & 0o777 == 0o600
    assert build_config(None, environ={**environ, "SECRET_KEY": "given"})["SECRET_KEY"] == "given"


def test_token_is_shown_once_and_stored_hashed(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    response = client.post("/account/tokens", data={"name": "deploy"})
    assert response.status_code == 200
    text = response.data.decode()
    start = text.index("data-new-token>") + len("data-new-token>")
    token = text[start : text.index("</pre>", start)]
    assert token.startswith("hst_")
    assert token not in client.get("/account/tokens").data.decode()
    from admin_web.extensions import get_session

    with app.app_context():
        rows = get_session().query(ApiToken).all()
        assert all(token not in (row.token_hash, row.prefix) for row in rows)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["email"] == "alice@acme.example"


def test_token_name_error_is_shown_next_to_the_field(
    client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    response = client.post("/account/tokens", data={"name": ""})
    assert response.status_code == 200
    assert b'data-field-error="name"' in response.data


def test_revoked_token_is_refused(client: FlaskClient, auth: AuthActions, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.alice_token}"}
    assert client.get("/api/v1/apps", headers=headers).status_code == 200
    auth.login()
    assert client.post(f"/account/tokens/{world.alice_token_id}/revoke").status_code == 302
    response = client.get("/api/v1/apps", headers=headers)
    assert response.status_code == 401
    assert "not valid" in response.json["error"]["message"]


def test_requests_over_the_size_limit_are_413(
    client: FlaskClient, auth: AuthActions, world: World
) -> None:
    big = "x" * (1024 * 1024 + 1)
    response = client.post(
        "/api/v1/apps",
        data=big,
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 413
    assert response.json["error"]["message"] == "the request is too large"
    auth.login()
    response = client.post(f"/apps/{world.shop_id}/programs/new", data={"command": big})
    assert response.status_code == 413


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("panel_session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str) -> FlaskClient:
    """Another browser holding a copy of ``cookie``."""
    other = app.test_client()
    other.set_cookie("panel_session", cookie)
    return other


def test_a_cookie_captured_before_logout_is_refused_after_it(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    captured = _cookie(client)
    assert _replay(app, captured).get("/").status_code == 200  # the copy works while logged in
    assert auth.logout().status_code == 302
    thief = _replay(app, captured)
    response = thief.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert thief.get(f"/apps/{world.shop_id}/status.json").status_code == 401
    assert thief.post(f"/apps/{world.shop_id}/control/app/restart").status_code == 302


def test_logout_ends_only_its_own_session(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    laptop = app.test_client()
    assert AuthActions(laptop).login().status_code == 302
    auth.login()
    auth.logout()
    assert laptop.get("/").status_code == 200


def test_deactivating_a_user_ends_their_sessions_for_good(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    captured = _cookie(client)
    admin = app.test_client()
    AuthActions(admin).login("root@example.com")
    admin.post(f"/admin/users/{world.alice_id}/active", data={"active": "0"})
    admin.post(f"/admin/users/{world.alice_id}/active", data={"active": "1"})
    assert client.get("/").status_code == 302  # reactivated, but the old session is over
    assert _replay(app, captured).get("/").status_code == 302
    assert auth.login().status_code == 302  # a new login works
    assert client.get("/").status_code == 200


def test_sessions_are_stored_hashed_with_their_use(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    from hosting.models import LoginSession

    from admin_web.extensions import LOGIN_SESSION_KEY, get_session

    auth.login()
    with client.session_transaction() as cookie_session:
        session_id = cookie_session[LOGIN_SESSION_KEY]
    client.get("/")
    auth.logout()
    with app.app_context():
        (row,) = get_session().query(LoginSession).all()
        assert row.user_id == world.alice_id and session_id not in row.token_hash
        assert row.last_used_at is not None and row.revoked_at is not None
