"""A failed apply, end to end: desired and actual state both shown, in the API and on the
panel's app page, and Retry brings them together once the cause is fixed. Real Redis, a
real host runtime with its workers and status poller, the app's real runtime; the panel and
its API served from the same database and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from hosting import tokens
from hosting.models import User

from admin_web.extensions import databases
from tests.workers.fixtures import Platform, wait_until

pytestmark = pytest.mark.timeout(180)
PASSWORD = "panel pass 123"
# Runs only once its file exists (brackets: a command may hold them).
GUARDED = "/bin/sh -c '[ -f ready ] && exec sleep 1000'"


@dataclass
class Panel:
    client: FlaskClient
    token: str
    app_id: int

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def app(self) -> dict[str, Any]:
        response = self.api("GET", f"/apps/{self.app_id}")
        assert response.status_code == 200, response.data
        return response.json["app"]

    def service(self, name: str) -> dict[str, Any]:
        return next(s for s in self.app()["services"] if s["name"] == name)


@pytest.fixture
def panel(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Panel]:
    monkeypatch.setattr("hosting.passwords.N", 2**8)
    platform.add_host("h1")
    app_id, _port = platform.create_app(name="shop")
    platform.run("create_app", app_id)
    user_id = platform.add_user("alice@acme.example", PASSWORD)
    with platform.sessions() as session:
        _row, token = tokens.create_token(session, session.get(User, user_id), "test")
        session.commit()
    # CSRF off for this test client; the browser test posts Retry with its token.
    flask_app = platform.panel(TESTING=True, SECRET_KEY="desired-actual", WTF_CSRF_ENABLED=False)
    client = flask_app.test_client()
    client.post("/login", data={"email": "alice@acme.example", "password": PASSWORD})
    yield Panel(client, token, app_id)
    databases(flask_app).dispose()


def test_a_failed_apply_shows_desired_and_actual_and_retry_mends_it(
    platform: Platform, panel: Panel
) -> None:
    # The customer adds a program (on the panel's form) that cannot run yet: the apply fails.
    response = panel.client.post(
        f"/apps/{panel.app_id}/programs/new",
        data={"name": "guard", "command": GUARDED, "stopsignal": "TERM", "stopwaitsecs": "10"},
    )
    assert response.status_code == 302, response.data[:500]
    failed = platform.wait_job(panel.app()["apply"]["job"])
    assert failed.status == "failed" and failed.title == "Add program guard", failed.error

    # The API: desired (enabled) beside actual (what the runtime reports), and the job.
    def guard_reported() -> dict[str, Any] | None:
        service = panel.service("guard")
        return service if service["actual"] in ("fatal", "backoff") else None

    guard = wait_until(guard_reported, 20, "the poller to report guard failing")
    assert guard["enabled"] is True and guard["desired"] == "enabled" and guard["differs"]
    app = panel.app()
    assert app["apply"] == {
        "state": "failed",
        "job": failed.id,
        "title": "Add program guard",
        "error": failed.error,
    }
    first_line = failed.error.splitlines()[0]
    expected = f"Program guard: wanted enabled, {guard['actual']}; last apply failed: {first_line}"
    assert app["differences"] == [expected]
    status = panel.api("GET", f"/apps/{panel.app_id}/status").json
    assert status["apply"]["state"] == "failed" and status["differences"] == [expected]
    app_row = next(s for s in status["services"] if s["name"] == "app")
    assert (app_row["desired"], app_row["actual"], app_row["differs"]) == (
        "enabled",
        "running",
        False,
    )

    # The panel's app page says the same, with a Retry form; no bare "enabled" badge.
    page = panel.client.get(f"/apps/{panel.app_id}").data.decode()
    assert "Program guard: wanted enabled," in page and "last apply failed" in page
    assert f'/apps/{panel.app_id}/jobs/{failed.id}/retry"' in page
    assert 'data-service-desired="guard"' in page and 'data-service-actual="guard"' in page

    # Retrying before the cause is fixed fails the same way, as a new job of its own.
    response = panel.api("POST", f"/jobs/{failed.id}/retry")
    assert response.status_code == 202, response.data
    again = platform.wait_job(response.json["job"]["id"])
    assert again.status == "failed" and again.title == "Retry: Add program guard"

    # The cause fixed (the file it waits for), Retry from the panel: desired == actual.
    (platform.app_root(panel.app_id) / "app" / "ready").write_text("")
    response = panel.client.post(f"/apps/{panel.app_id}/jobs/{again.id}/retry")
    assert response.status_code == 302
    mended = platform.wait_job(panel.app()["apply"]["job"])
    assert mended.status == "done" and mended.title == "Retry: Add program guard", mended.error

    def agreed() -> dict[str, Any] | None:
        app = panel.app()
        guard = next(s for s in app["services"] if s["name"] == "guard")
        return app if guard["actual"] == "running" and not app["differences"] else None

    app = wait_until(agreed, 20, "desired and actual to agree")
    assert app["apply"]["state"] == "done"
    page = panel.client.get(f"/apps/{panel.app_id}").data.decode()
    assert "last apply failed" not in page
    # Only a failed job is retried.
    response = panel.api("POST", f"/jobs/{mended.id}/retry")
    assert response.status_code == 400 and "only a failed job" in response.json["error"]["message"]
