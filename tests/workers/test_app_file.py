"""The app file (issue 21), end to end through hostingctl and through the API: apply, then
apply again (nothing changes, no job), a dry-run/preview of a changed file (the diff is
exactly the changed fields), apply it, then export and apply the export (nothing changes).
Real Redis, a real host runtime with its RQ workers, the app's real runtime (in its
container as root); the panel's API served from the same database and Redis.

The programs are the seeds' RQ workers in shape (a ``worker`` program with numprocs, beside
a ``cron``); ``sleep`` stands in for ``rq worker`` (no rq inside the tenant's container).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hosting import tokens
from hosting.models import Job, User
from sqlalchemy import func, select

from admin_web.extensions import databases
from tests.workers.fixtures import Platform, wait_until
from tests.workers.test_cli import hostingctl
from workers.runtime import Runtime

pytestmark = pytest.mark.timeout(240)

FILE = """\
name = "shop"
tech = "custom"

[app]
port = {port}

[services.redis]
maxmemory_mb = 32

[programs.worker]
command = "/bin/sleep 1000"
numprocs = 2
stopwaitsecs = 5

[programs.worker.environment]
QUEUES = "high default"

[programs.cron]
command = "/bin/sleep 2000"
"""
# numprocs 2 -> 4, the worker's command changed, cron removed.
CHANGED_LINES = [
    '~ programs.worker.command: "/bin/sleep 1000" -> "/bin/sleep 1001"',
    "~ programs.worker.numprocs: 2 -> 4",
    "- programs.cron: removed",
    "restarts: worker",
]


def changed(text: str) -> str:
    text = text.replace('"/bin/sleep 1000"', '"/bin/sleep 1001"').replace(
        "numprocs = 2", "numprocs = 4"
    )
    return text[: text.index("[programs.cron]")]


def job_count(platform: Platform, app_id: int) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count(Job.id)).where(Job.app_id == app_id))


def running(platform: Platform, app_id: int) -> dict[str, str]:
    """Process name -> its command line's state, as the app's runtime reports them."""
    with Runtime(platform.app_serverurl(app_id)) as runtime:
        return {info["name"]: info["statename"] for info in runtime.states().values()}


def wait_running(platform: Platform, app_id: int, names: set[str]) -> dict[str, str]:
    def settled() -> dict[str, str] | None:
        states = running(platform, app_id)
        ours = {name for name in states if name != "app"}
        ok = ours == names and all(states[name] == "RUNNING" for name in names)
        return states if ok else None

    return wait_until(settled, 30, f"exactly {sorted(names)} RUNNING beside app")


BEFORE = {"redis", "worker_00", "worker_01", "cron"}
AFTER = {"redis", "worker_00", "worker_01", "worker_02", "worker_03"}


@pytest.fixture
def shop(platform: Platform) -> tuple[int, int]:
    platform.add_host("h1")
    app_id, port = platform.create_app(name="shop")
    platform.run("create_app", app_id)
    return app_id, port


def test_apply_dry_run_export_with_hostingctl(
    platform: Platform, shop: tuple[int, int], tmp_path: Path
) -> None:
    app_id, port = shop
    path = tmp_path / "app.toml"
    path.write_text(FILE.format(port=port))

    code, out = hostingctl(platform, "apply", "-f", str(path), "--yes")
    assert code == 0 and ": done" in out, out
    wait_running(platform, app_id, BEFORE)

    # Again: nothing to change, no job.
    jobs = job_count(platform, app_id)
    code, out = hostingctl(platform, "apply", "-f", str(path), "--yes")
    assert (code, out) == (0, "h1/shop: nothing to change\n")
    assert job_count(platform, app_id) == jobs

    # A changed file: the dry run shows exactly the changed fields and changes nothing.
    path.write_text(changed(path.read_text()))
    code, out = hostingctl(platform, "apply", "-f", str(path), "--dry-run")
    assert code == 0, out
    assert out.splitlines() == [f"h1/shop: {path} changes", *(f"  {x}" for x in CHANGED_LINES)]
    assert job_count(platform, app_id) == jobs

    # Asked, and refused: nothing applied. Asked, and confirmed: applied.
    code, out = hostingctl(platform, "apply", "-f", str(path), stdin="n\n")
    assert code == 2 and "Apply these changes to h1/shop? [y/N] not applied" in out, out
    assert job_count(platform, app_id) == jobs
    code, out = hostingctl(platform, "apply", "-f", str(path), stdin="y\n")
    assert code == 0 and ": done" in out, out
    wait_running(platform, app_id, AFTER)

    # Export, then apply the export: nothing changes.
    code, exported = hostingctl(platform, "export", "shop")
    assert code == 0 and "numprocs = 4" in exported and "cron" not in exported, exported
    (tmp_path / "export.toml").write_text(exported)
    code, out = hostingctl(platform, "apply", "-f", str(tmp_path / "export.toml"), "--yes")
    assert (code, out) == (0, "h1/shop: nothing to change\n")
    assert job_count(platform, app_id) == jobs + 1

    # A bad value: the file, the field and the value are named; nothing changes.
    path.write_text(path.read_text().replace("numprocs = 4", "numprocs = 40"))
    code, out = hostingctl(platform, "apply", "-f", str(path), "--yes")
    assert code == 2, out
    assert f"{path}: programs.worker.numprocs = 40: must be between 1 and 16, not 40" in out
    assert job_count(platform, app_id) == jobs + 1


def _api_client(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("hosting.passwords.N", 2**8)
    user_id = platform.add_user("alice@acme.example", "api pass 123")
    with platform.sessions() as session:
        _row, token = tokens.create_token(session, session.get(User, user_id), "ci")
        session.commit()
    flask_app = platform.panel(TESTING=True, SECRET_KEY="app-file")
    client = flask_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def api(method: str, path: str, body: str | None = None, **query: str) -> Any:
        return client.open(
            f"/api/v1{path}", method=method, headers=headers, data=body, query_string=query
        )

    return flask_app, api


def test_apply_preview_export_through_the_api(
    platform: Platform, shop: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id, port = shop
    flask_app, api = _api_client(platform, monkeypatch)
    text = FILE.format(port=port)
    try:
        response = api("POST", f"/apps/{app_id}/spec", text, file="app.toml")
        assert response.status_code == 202, response.json
        assert platform.wait_job(response.json["job"]["id"]).status == "done"
        wait_running(platform, app_id, BEFORE)

        jobs = job_count(platform, app_id)
        response = api("POST", f"/apps/{app_id}/spec", text)
        assert response.status_code == 200
        assert response.json == {"changes": [], "restarts": [], "lines": [], "job": None}
        assert job_count(platform, app_id) == jobs

        response = api("POST", f"/apps/{app_id}/spec/preview", changed(text))
        assert response.status_code == 200
        assert response.json["lines"] == CHANGED_LINES
        assert response.json["changes"] == [
            {
                "field": "programs.worker.command",
                "action": "changed",
                "from": "/bin/sleep 1000",
                "to": "/bin/sleep 1001",
            },
            {"field": "programs.worker.numprocs", "action": "changed", "from": 2, "to": 4},
            {
                "field": "programs.cron",
                "action": "removed",
                "from": {"command": "/bin/sleep 2000"},
                "to": None,
            },
        ]
        assert job_count(platform, app_id) == jobs

        response = api("POST", f"/apps/{app_id}/spec", changed(text))
        assert response.status_code == 202 and response.json["lines"] == CHANGED_LINES
        assert platform.wait_job(response.json["job"]["id"]).status == "done"
        wait_running(platform, app_id, AFTER)

        exported = api("GET", f"/apps/{app_id}/spec")
        assert exported.mimetype == "application/toml"
        response = api("POST", f"/apps/{app_id}/spec", exported.get_data(as_text=True))
        assert response.status_code == 200 and response.json["job"] is None
        assert job_count(platform, app_id) == jobs + 1

        bad = changed(text).replace('"/bin/sleep 1001"', '"/bin/sleep %(ENV_HOME)s"')
        response = api("POST", f"/apps/{app_id}/spec", bad, file="app.toml")
        assert response.status_code == 400
        assert response.json["error"] == {
            "field": "programs.worker.command",
            "message": 'app.toml: programs.worker.command = "/bin/sleep %(ENV_HOME)s": '
            "must not contain '%(': supervisord would expand it",
        }
    finally:
        databases(flask_app).dispose()
