"""A tenant runtime that cannot start is shown as such, and its programs leave no orphans.

Real parts only: a host runtime with its RQ workers and status poller, a tenant runtime (in
its container when we are root), the platform's Redis and database, and the panel and API
(Flask's test client on the same database and Redis).
"""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pytest
from hosting import services, tokens
from hosting.log_reads import LogUnavailable
from hosting.models import App, Tenant
from hosting.status import read_app_status

from admin_web import create_app
from admin_web.extensions import databases
from tests.harness import processes_of
from tests.web.fixtures import make_config
from tests.workers.fixtures import Platform, wait_until
from workers.host import host_runtime
from workers.tenants import HostView, RuntimeDown

pytestmark = pytest.mark.timeout(300)

TENANT = "tenant-web:tenant-web"
PASSWORD = "a long enough password"


def host_state(platform: Platform, app_id: int) -> str:
    with host_runtime(platform.host_of(app_id)) as runtime:
        return str(runtime.states()[TENANT]["statename"])


def spawns(platform: Platform, app_id: int) -> int:
    """How many times the host runtime has spawned the app's runtime (its main log)."""
    log = Path(platform.host_of(app_id).root) / "log" / "supervisord.log"
    return log.read_text().count("spawned: 'tenant-web'")


def break_main_config(root: Path) -> str:
    """The app's main config made unbootable (the platform's own file: no tolerance for a
    tenant's broken include can skip it); returns the original text."""
    conf = root / "conf" / "supervisord.conf"
    original = conf.read_text()
    conf.write_text(original.replace("[supervisord]\n", "[supervisord]\nminfds=lots\n", 1))
    return original


def test_a_runtime_that_cannot_boot_is_fatal_with_its_cause_shown_and_jobs_fail_fast(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform.add_host()
    app_id, _port = platform.create_app()
    platform.run("create_app", app_id)
    root = platform.app_root(app_id)
    original = break_main_config(root)

    # The platform restarts the app's runtime (as after an update of its program).
    before = spawns(platform, app_id)
    started = time.monotonic()
    with host_runtime(platform.host_of(app_id)) as host:
        host.stop([TENANT], timeout=30)
        host.call("startProcess", TENANT, False)
        wait_until(lambda: host.states()[TENANT]["statename"] == "FATAL", 30, "FATAL")
    to_fatal = time.monotonic() - started
    # startretries=3: four boots in all, then it stays down (no respawn loop).
    assert spawns(platform, app_id) - before == 4
    assert host_state(platform, app_id) == "FATAL"

    # The status poller records why, from the host runtime's own log of it.
    def fatal_status() -> dict | None:
        status = read_app_status(platform.redis, app_id) or {}
        return status if (status.get("runtime_state") or {}).get("state") == "FATAL" else None

    status = wait_until(fatal_status, 10, "FATAL in the app's status")
    assert status["runtime"] == "down"
    cause = status["runtime_state"]["cause"]
    assert "invalid value for minfds ('lots')" in cause
    if platform.host_of(app_id).containers:  # its own path, as it sees it; no host path
        assert "/srv/conf/supervisord.conf" in cause and str(root) not in cause

    # The API and the panel show it.
    monkeypatch.setattr("hosting.passwords.N", 2**8)
    panel = create_app(make_config(platform.database_url, platform.redis_url, platform.base))
    with platform.sessions() as session:
        user = services.create_user(session, "owner@acme.example", PASSWORD)
        tenant = session.query(Tenant).filter_by(slug="acme").one()
        services.add_member(session, tenant, user, "owner")
        _token, token = tokens.create_token(session, user, "test")
        session.commit()
    client = panel.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    shown = client.get(f"/api/v1/apps/{app_id}", headers=headers).json["app"]["status"]
    assert (shown["state"], shown["runtime_state"]["state"]) == ("down", "FATAL")
    assert "minfds" in shown["runtime_state"]["cause"]
    live = client.get(f"/api/v1/apps/{app_id}/status", headers=headers).json
    assert live["runtime_state"] == shown["runtime_state"]
    client.post("/login", data={"email": "owner@acme.example", "password": PASSWORD})
    page = client.get(f"/apps/{app_id}").get_data(as_text=True)
    block = page.split("data-runtime-down", 1)[1].split("</div>", 1)[0]
    assert "hidden" not in block.split(">", 1)[0]
    assert "FATAL" in block and "invalid value for minfds (&#39;lots&#39;)" in block
    databases(panel).dispose()

    # A log read on it (no job: hosting.log_reads) fails at once, naming the cause (it
    # waited 20 s, then retried, before).
    started = time.monotonic()
    with pytest.raises(LogUnavailable) as refused:
        platform.read_log(app_id, "app")
    read_failed_in = time.monotonic() - started
    assert str(refused.value).startswith(
        "the runtime of app web is FATAL: Error: invalid value for minfds"
    )
    assert read_failed_in < 5, read_failed_in

    # "Restart app" starts a FATAL runtime again (the host-level start): still broken, it
    # fails on its first failed boot, with the cause.
    started = time.monotonic()
    job = platform.wait_job(platform.enqueue("program_action", app_id, action="restart"), 30)
    restart_failed_in = time.monotonic() - started
    assert job.status == "failed"
    assert job.error.startswith("the runtime of app web is BACKOFF: Error: invalid value")
    assert restart_failed_in < 10, restart_failed_in

    # Fixed once it is FATAL again, the same restart brings it back.
    with host_runtime(platform.host_of(app_id)) as host:
        wait_until(lambda: host.states()[TENANT]["statename"] == "FATAL", 30, "FATAL again")
    (root / "conf" / "supervisord.conf").write_text(original)
    job = platform.run("program_action", app_id, action="restart", program="app")
    assert job.result["processes"]["app:app"]["state"] == "RUNNING"
    wait_until(lambda: host_state(platform, app_id) == "RUNNING", 10, "RUNNING on the host")
    print(
        f"\nmeasured: FATAL {to_fatal:.1f}s after the restart (4 boots); the log read failed in "
        f"{read_failed_in:.2f}s; restart of the FATAL runtime failed in {restart_failed_in:.2f}s"
    )


def sleepers(uid: int) -> list[int]:
    """Processes of ``uid`` running ``sleep 300``."""
    return processes_of(uid, ["sleep", "300"])


def test_stopping_a_custom_program_or_the_app_leaves_no_child_behind(platform: Platform) -> None:
    platform.add_host()
    app_id, _port = platform.create_app()
    with platform.sessions() as session:
        app = session.get(App, app_id)
        command = "sh -c 'sleep 300; echo x'"
        services.add_service(session, app, "custom", "sleeper", {"command": command})
        session.commit()
    platform.run("create_app", app_id)
    # Its own user when we are root (and the app in its container), else ours.
    uid = (
        pwd.getpwnam(f"{platform.user_prefix}{app_id}").pw_uid if os.geteuid() == 0 else os.getuid()
    )
    wait_until(lambda: sleepers(uid), 10, "the program's sleep")

    platform.run("program_action", app_id, action="stop", program="sleeper")
    wait_until(lambda: not sleepers(uid), 5, "no sleep left after stopping the program")

    platform.run("program_action", app_id, action="start", program="sleeper")
    wait_until(lambda: sleepers(uid), 10, "the program's sleep again")
    platform.run("program_action", app_id, action="stop", program="all")
    wait_until(lambda: not sleepers(uid), 5, "no sleep left after stopping the app")


def test_what_counts_as_down_and_how_a_job_names_it() -> None:
    assert HostView("FATAL").down and HostView("EXITED").down
    assert not HostView("BACKOFF").down  # a retry on its way, no cause yet
    assert HostView("BACKOFF", "Error: x").down
    assert not HostView("STOPPED").down and not HostView("STARTING").down
    cause = "Error: old\nFor help, use supervisord -h\nError: newest\nFor help, use supervisord -h"
    failure = RuntimeDown("shop", HostView("FATAL", cause))
    assert str(failure) == "the runtime of app shop is FATAL: Error: newest"
    assert failure.log_tail == cause
    assert str(RuntimeDown("shop", HostView("EXITED"))) == "the runtime of app shop is EXITED"
