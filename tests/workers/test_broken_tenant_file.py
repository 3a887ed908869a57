"""Issue 14's brick, redone: seed 002's typo (``numprocs=l``) in a tenant's own
conf/supervisor.d/mine.conf, then the tenant runtime restarted as the platform restarts it
(the host runtime restarts ``tenant-<app>``). The runtime boots without that file: the app
is RUNNING, and the notice naming the file, line, key, value and error is seen inside the
container (``hostingctl exec APP -- supervisorctl status``), in the API and on the panel.

Real parts: the host runtime with its workers and status poller, the app's container, its
runtime, Redis, and the panel's Flask app on the same database and Redis.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from hosting import services, tokens

from admin_web import create_app
from admin_web.extensions import databases
from tests.web.fixtures import make_config
from tests.workers.fixtures import Platform, wait_until
from workers.host import host_runtime
from workers.runtime import Runtime
from workers.tenants import tenant_program

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the app's user and container"),
]

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
SEED_002_TYPO = (SEEDS / "002_redis_numprocs_l.conf").read_text(encoding="utf-8")
IN_CONTAINER = "/srv/conf/supervisor.d/mine.conf"
NOTICE = (
    f"notice: included file {IN_CONTAINER} set aside: line 7 [program:redis_6376] "
    "numprocs = 'l': not an integer: 'l'"
)


def test_a_tenant_typo_then_a_runtime_restart_leaves_the_app_running_with_a_notice(
    platform: Platform,
) -> None:
    platform.add_host("h1")
    app_id, port = platform.create_app(name="shop")
    platform.run("create_app", app_id)
    host = platform.host_of(app_id)
    assert host.containers, host.containers_off

    # The tenant writes the typo into a file of its own.
    mine = platform.app_root(app_id) / "conf" / "supervisor.d" / "mine.conf"
    mine.write_text(SEED_002_TYPO, encoding="utf-8")
    user = pwd.getpwnam(f"{platform.user_prefix}{app_id}")
    os.chown(mine, user.pw_uid, user.pw_gid)

    # The platform restarts the tenant runtime: the host runtime restarts tenant-shop.
    before = platform.container_init(app_id)
    with host_runtime(host) as runtime:
        runtime.restart([tenant_program("shop")])
    with Runtime(platform.app_serverurl(app_id)) as app_runtime:
        app_runtime.wait_up(30)
        app_runtime.wait_for(running=["app:app"], timeout=30)
    assert platform.container_init(app_id) != before  # a new runtime, booted with the typo
    assert b"Directory listing" in platform.http_get(app_id, port)

    # Inside the container, as the tenant would over SSH.
    def in_container(*argv: str) -> subprocess.CompletedProcess[str]:
        hostingctl = str(Path(sys.executable).parent / "hostingctl")
        return subprocess.run(
            [hostingctl, "exec", "--host-root", host.root, "shop", "--", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    status = in_container("supervisorctl", "status")
    lines = status.stdout.splitlines()
    assert status.returncode == 0, status.stdout + status.stderr
    assert lines[0].split()[:2] == ["app", "RUNNING"]
    assert lines[-1] == NOTICE

    # The status poller stores it; the API and the panel show it.
    panel = create_app(make_config(platform.database_url, platform.redis_url, platform.base))
    with panel.app_context():
        from admin_web.extensions import get_session

        session = get_session()
        admin = services.create_user(session, "ops@example.com", "pw-for-the-panel", is_admin=True)
        _token, token = tokens.create_token(session, admin, "proof")
        session.commit()
    client = panel.test_client()

    def api_notices() -> list[dict]:
        response = client.get(
            f"/api/v1/apps/{app_id}/status", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.data
        return response.json["notices"]

    notices = wait_until(api_notices, 30, "the poller to store the notice")
    assert notices == [
        {
            "file": IN_CONTAINER,
            "line": 7,
            "section": "program:redis_6376",
            "key": "numprocs",
            "value": "l",
            "error": "not an integer: 'l'",
        }
    ]
    login = client.post("/login", data={"email": "ops@example.com", "password": "pw-for-the-panel"})
    assert login.status_code in (302, 303), login.data
    page = client.get(f"/apps/{app_id}").data.decode()
    assert "Set aside:" in page and IN_CONTAINER in page
    assert "line 7 [program:redis_6376] numprocs = l" in page

    # The attack: markup in a broken file of the tenant's, set aside on its own reread from
    # inside the container, reaches the operator's page only as text.
    evil = "<img src=x onerror=alert(1)>"
    done = in_container(
        "sh", "-c", f"printf '[program:evil]\\ncommand=/bin/true\\nnumprocs={evil}\\n' "
        "> /srv/conf/supervisor.d/evil.conf && supervisorctl reread"
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: len(api_notices()) == 2, 30, "the poller to store the second notice")
    page = client.get(f"/apps/{app_id}").data.decode()
    assert "evil.conf" in page and evil not in page
    assert "numprocs = &lt;img src=x onerror=alert(1)&gt;" in page
    databases(panel).dispose()
    panel.extensions["redis"].close()
