"""The customer's and the operator's pages: what each click records and enqueues (on the
app's host's queue), what the live JSON endpoints say, and validation errors next to fields."""

from __future__ import annotations

import re
import time

import redis
from flask import Flask
from flask.testing import FlaskClient
from hosting.job_records import finish_job, start_job
from hosting.models import Job, Service
from hosting.queue import job_queue
from hosting.status import write_app_status, write_host_status
from rq import Worker
from sqlalchemy import select

from admin_web.extensions import get_session
from tests.web.fixtures import AuthActions, World, rq_job_ids


def newest_job(app: Flask) -> Job:
    with app.app_context():
        return get_session().scalars(select(Job).order_by(Job.created_at.desc())).first()


def test_restart_enqueues_on_the_apps_host(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    response = client.post(f"/apps/{world.shop_id}/control/app/restart")
    assert response.status_code == 302
    job = newest_job(app)
    assert (job.kind, job.arguments, job.status) == (
        "program_action",
        {"action": "restart", "program": "app"},
        "queued",
    )
    assert job.actor == "user:alice@acme.example" and job.app_id == world.shop_id
    assert rq_job_ids(redis_client, "host.h1") == [job.id]
    assert rq_job_ids(redis_client, "host.h2") == []
    rq_job = job_queue("host.h1", redis_client).fetch_job(job.id)
    assert rq_job.func_name == "workers.job_handlers.run_job" and list(rq_job.args) == [job.id]
    # The page after the redirect follows that job live.
    page = client.get(response.headers["Location"])
    assert f"/jobs/{job.id}.json".encode() in page.data


def test_start_all_and_stop_all(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    for action in ("stop", "start"):
        assert client.post(f"/apps/{world.shop_id}/control/all/{action}").status_code == 302
        assert newest_job(app).arguments == {"action": action, "program": "all"}


def test_unknown_program_or_action_is_refused(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    response = client.post(f"/apps/{world.shop_id}/control/nope/restart", follow_redirects=True)
    assert b"runs no program" in response.data
    response = client.post(f"/apps/{world.shop_id}/control/app/explode", follow_redirects=True)
    assert b"action: must be one of start, stop, restart" in response.data
    assert rq_job_ids(redis_client, "host.h1") == []


def test_enable_and_disable_redis(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    assert client.post(f"/apps/{world.shop_id}/services/redis/enable").status_code == 302
    with app.app_context():
        service = (
            get_session()
            .scalars(
                select(Service).where(Service.app_id == world.shop_id, Service.name == "redis")
            )
            .one()
        )
        assert service.kind == "redis" and service.enabled
    job = newest_job(app)
    assert job.kind == "apply_services" and rq_job_ids(redis_client, "host.h1") == [job.id]
    page = client.get(f"/apps/{world.shop_id}").data.decode()
    assert "Disable Redis" in page and "Enable Memcached" in page
    assert client.post(f"/apps/{world.shop_id}/services/redis/disable").status_code == 302
    with app.app_context():
        assert not get_session().get(Service, service.id).enabled
    assert "Enable Redis" in client.get(f"/apps/{world.shop_id}").data.decode()


def test_enable_memcached_with_json_accept_returns_the_job(
    client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    response = client.post(
        f"/apps/{world.shop_id}/services/memcached/enable", headers={"Accept": "application/json"}
    )
    assert response.status_code == 202
    assert response.json["job"]["kind"] == "apply_services"
    assert response.json["job"]["status"] == "queued"


def test_add_edit_remove_custom_program(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    base = f"/apps/{world.shop_id}/programs"
    response = client.post(
        f"{base}/new",
        data={
            "name": "scheduler",
            "command": "python sched.py",
            "environment": "A=1\nB=two",
            "stopsignal": "INT",
            "stopwaitsecs": "20",
        },
    )
    assert response.status_code == 302, response.data
    assert newest_job(app).kind == "apply_services"
    with app.app_context():
        service = get_session().scalars(select(Service).where(Service.name == "scheduler")).one()
        assert service.settings == {
            "command": "python sched.py",
            "environment": {"A": "1", "B": "two"},
            "stopsignal": "INT",
            "stopwaitsecs": 20,
        }
    page = client.get(f"{base}/scheduler/edit").data.decode()
    assert "python sched.py" in page and "B=two" in page
    # A change is shown first (it restarts the program), saved on confirmation.
    edit = {"name": "ignored", "command": "python sched.py --fast", "numprocs": "2"}
    jobs_before = newest_job(app).id
    response = client.post(f"{base}/scheduler/edit", data=edit)
    assert response.status_code == 200
    page = response.data.decode()
    preview = page[page.index("data-spec-preview") : page.index("</ul>")]
    assert preview.count("<li") == 6, preview  # exactly the fields that differ
    command = "~ programs.scheduler.command: &#34;python sched.py&#34; -&gt; &#34;python sched.py"
    assert f"{command} --fast&#34;" in preview
    assert "~ programs.scheduler.numprocs: 1 -&gt; 2" in preview
    assert "~ programs.scheduler.environment.A: &#34;1&#34; -&gt; (none)" in preview
    assert "~ programs.scheduler.stopsignal: &#34;INT&#34; -&gt; &#34;TERM&#34;" in preview
    assert "Saving restarts: scheduler" in page
    assert newest_job(app).id == jobs_before  # nothing saved, nothing queued
    digest = re.search(r'name="confirmed" value="([0-9a-f]{64})"', page).group(1)
    stale = client.post(
        f"{base}/scheduler/edit", data={**edit, "numprocs": "3", "confirmed": digest}
    )
    assert stale.status_code == 200 and "numprocs: 1 -&gt; 3" in stale.data.decode()
    response = client.post(f"{base}/scheduler/edit", data={**edit, "confirmed": digest})
    assert response.status_code == 302
    with app.app_context():
        service = get_session().get(Service, service.id)
        assert service.settings == {"command": "python sched.py --fast", "numprocs": 2}
    assert newest_job(app).title == "Change program scheduler"
    # The same values again: nothing to change, no job.
    response = client.post(f"{base}/scheduler/edit", data=edit)
    assert response.status_code == 302 and newest_job(app).title == "Change program scheduler"
    assert client.post(f"{base}/scheduler/remove").status_code == 302
    with app.app_context():
        assert get_session().get(Service, service.id) is None
    # Only custom programs are edited or removed here.
    assert client.post(f"{base}/app/remove").status_code == 404
    assert client.get(f"{base}/app/edit").status_code == 404


def field_error(html: bytes, field: str) -> str:
    text = html.decode()
    marker = f'data-field-error="{field}">'
    assert marker in text, f"no error next to {field}: {text[:4000]}"
    start = text.index(marker) + len(marker)
    return text[start : text.index("</small>", start)]


def test_validation_errors_are_shown_next_to_the_field(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    base = f"/apps/{world.shop_id}/programs/new"
    response = client.post(base, data={"name": "Bad Name", "command": "x"})
    assert response.status_code == 400
    assert "is not a valid name" in field_error(response.data, "name")
    response = client.post(base, data={"name": "ok", "command": "echo %(ENV_HOME)s"})
    assert "supervisord would expand it" in field_error(response.data, "command")
    response = client.post(base, data={"name": "ok", "command": "x", "environment": "novalue"})
    assert "write NAME=value" in field_error(response.data, "environment")
    response = client.post(base, data={"name": "ok", "command": "x", "environment": "1X=a"})
    assert field_error(response.data, "environment")
    response = client.post(base, data={"name": "ok", "command": "x", "directory": "../../etc"})
    assert field_error(response.data, "directory")
    response = client.post(base, data={"name": "cron", "command": "x"})
    assert "already" in field_error(response.data, "name")
    response = client.post(base, data={"name": "ok", "command": ""})
    assert field_error(response.data, "command")
    assert rq_job_ids(redis_client, "host.h1") == []
    with app.app_context():
        assert get_session().scalars(select(Service).where(Service.name == "ok")).first() is None


def test_every_field_error_shows_at_once(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    data = {
        "name": "Bad Name",
        "command": "ls ; cut here",
        "environment": "novalue",
        "directory": "../../etc",
        "stopwaitsecs": "0",
    }
    response = client.post(f"/apps/{world.shop_id}/programs/new", data=data)
    assert response.status_code == 400
    assert "is not a valid name" in field_error(response.data, "name")
    assert "starts a comment" in field_error(response.data, "command")
    assert "write NAME=value" in field_error(response.data, "environment")
    assert field_error(response.data, "directory")
    assert field_error(response.data, "stopwaitsecs")
    # The new-app form: the name's error and the command's, together.
    data = {"name": "Nope!", "tech": "custom", "tenant": "acme", "custom_command": "%(x"}
    response = client.post("/apps/new", data=data)
    assert response.status_code == 400
    assert field_error(response.data, "name") and field_error(response.data, "custom_command")
    assert rq_job_ids(redis_client, "host.h1") == []


def test_the_job_card_is_the_one_voice_for_a_job(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    response = client.post(f"/apps/{world.shop_id}/services/redis/enable")
    page = client.get(response.headers["Location"]).data.decode()
    job = newest_job(app)
    assert job.title == "Enable Redis"
    card = page[page.index('class="jobcard"') :]
    assert "data-job-title>Enable Redis<" in card and "data-job-status>queued<" in card
    assert "queued." not in page and "applying" not in page  # no flash beside the card
    # Once the job is done the card (on the next page) says so, and nothing else says queued.
    response = client.post(f"/apps/{world.shop_id}/control/app/restart")
    with app.app_context():
        session = get_session()
        finish_job(session, newest_job(app).id, result={})
        session.commit()
    page = client.get(response.headers["Location"]).data.decode()
    assert "data-job-title>Restart app<" in page and "data-job-status>done<" in page
    assert 'class="flash flash-info"' not in page


def test_retry_runs_a_failed_job_again(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    url = f"/apps/{world.shop_id}/jobs/{world.shop_job_id}/retry"
    response = client.post(url)  # the world's job is queued, not failed: refused
    assert response.status_code == 302
    assert "only a failed job is retried" in client.get(response.headers["Location"]).data.decode()
    with app.app_context():
        session = get_session()
        finish_job(session, world.shop_job_id, error="conf refused: numprocs=l")
        session.commit()
    page = client.get(f"/apps/{world.shop_id}").data.decode()
    assert f'action="{url}"' in page and "conf refused: numprocs=l" in page
    response = client.post(url)
    job = newest_job(app)
    assert (job.kind, job.title) == ("apply_services", "Retry: Apply the app's settings")
    assert rq_job_ids(redis_client, "host.h1") == [job.id]
    assert client.post(f"/apps/{world.blog_id}/jobs/{world.shop_job_id}/retry").status_code == 404


def test_new_app_form(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    response = client.post("/apps/new", data={"name": "Nope!", "tech": "python", "tenant": "acme"})
    assert response.status_code == 400 and field_error(response.data, "name")
    response = client.post("/apps/new", data={"name": "api", "tech": "python", "tenant": "acme"})
    assert response.status_code == 302
    job = newest_job(app)
    assert job.kind == "create_app"
    # h1 holds shop, h2 holds blog: the tie goes to the oldest host.
    assert rq_job_ids(redis_client, "host.h1") == [job.id]
    # A member may not choose a host, nor a tenant that is not theirs.
    response = client.post("/apps/new", data={"name": "x2", "tech": "node", "tenant": "beta"})
    assert response.status_code == 400 and field_error(response.data, "tenant")


def test_status_json_merges_database_and_runtime_status(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    data = client.get(f"/apps/{world.shop_id}/status.json").json
    assert data["state"] == "unknown"
    assert [(p["name"], p["state"]) for p in data["processes"]] == [
        ("app", "PENDING"),
        ("cron", "PENDING"),
    ]
    now = time.time()
    write_app_status(
        redis_client,
        world.shop_id,
        [
            {
                "name": "app",
                "group": "app",
                "statename": "RUNNING",
                "pid": 4242,
                "description": "pid 4242, uptime 0:01:05",
                "start": now - 65,
                "now": now,
            },
            {
                "name": "cron",
                "group": "cron",
                "statename": "BACKOFF",
                "pid": 0,
                "description": "Exited too quickly",
                "start": now - 1,
                "now": now,
            },
            {
                "name": "mine",
                "group": "mine",
                "statename": "RUNNING",
                "pid": 7,
                "description": "pid 7",
                "start": now - 5,
                "now": now,
            },
        ],
    )
    data = client.get(f"/apps/{world.shop_id}/status.json").json
    assert data["state"] == "partial" and (data["running"], data["total"]) == (2, 3)
    rows = {p["name"]: p for p in data["processes"]}
    assert rows["app"]["kind"] == "app" and rows["app"]["pid"] == 4242
    assert rows["app"]["uptime"] == 65 and rows["app"]["target"] == "app"
    assert rows["cron"]["kind"] == "custom" and rows["cron"]["uptime"] is None
    assert rows["mine"]["kind"] == "own"
    assert data["jobs"][0]["id"] == world.shop_job_id
    page = client.get(f"/apps/{world.shop_id}").data.decode()
    assert "4242" in page and "0:01:05" in page and "BACKOFF" in page
    assert data["notices"] == [] and "Set aside:" not in page
    listing = client.get("/apps/status.json").json["apps"]
    assert listing == {str(world.shop_id): listing[str(world.shop_id)]}
    assert listing[str(world.shop_id)]["state"] == "partial"


def test_config_notices_reach_the_status_json_the_api_and_the_app_page(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    notice = {
        "file": "/srv/conf/supervisor.d/mine.conf",
        "line": 7,
        "section": "program:redis_6376",
        "key": "numprocs",
        "value": "l",
        "error": "not an integer: 'l'",
    }
    write_app_status(redis_client, world.shop_id, [], notices=[notice])
    auth.login()
    assert client.get(f"/apps/{world.shop_id}/status.json").json["notices"] == [notice]
    page = client.get(f"/apps/{world.shop_id}").data.decode()
    assert "Set aside:" in page and "/srv/conf/supervisor.d/mine.conf" in page
    assert "line 7 [program:redis_6376] numprocs = l" in page
    assert "not an integer: &#39;l&#39;" in page


def test_job_json_goes_queued_running_done(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login()
    url = f"/jobs/{world.shop_job_id}.json"
    assert client.get(url).json["job"]["status"] == "queued"
    with app.app_context():
        session = get_session()
        start_job(session, world.shop_job_id)
        session.commit()
    assert client.get(url).json["job"]["status"] == "running"
    with app.app_context():
        session = get_session()
        finish_job(session, world.shop_job_id, error="reread failed", log_tail="boom\n")
        session.commit()
    job = client.get(url).json["job"]
    assert (job["status"], job["finished"], job["error"], job["log_tail"]) == (
        "failed",
        True,
        "reread failed",
        "boom\n",
    )
    page = client.get(f"/apps/{world.shop_id}/jobs").data.decode()
    assert "reread failed" in page and "boom" in page and "alice@acme.example" in page


def test_log_viewer_reads_without_a_job(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    """No worker runs here: the read is asked of the host and the page says it did not
    answer in time (LOG_READ_SECONDS is 1 in these tests); the real read, answered by a
    real worker, is tests/workers/test_log_reads.py."""
    auth.login()
    jobs_before = newest_job(app).id
    page = client.get(f"/apps/{world.shop_id}/logs")
    assert b'<option value="app" selected>' in page.data and b'method="get"' in page.data
    started = time.monotonic()
    page = client.get(f"/apps/{world.shop_id}/logs?program=cron&channel=stderr&bytes=16384")
    assert page.status_code == 200 and time.monotonic() - started < 5
    assert "did not answer within 1 s" in page.data.decode()
    response = client.get(f"/apps/{world.shop_id}/logs.json?program=app")
    assert response.status_code == 503 and "did not answer" in response.json["error"]["message"]
    assert newest_job(app).id == jobs_before  # reading is no job, no audit record
    assert rq_job_ids(redis_client, "host.h1") == []  # nor a request left in the queue
    response = client.get(f"/apps/{world.shop_id}/logs.json?program=../etc")
    assert response.status_code == 400 and response.json["error"]["field"] == "program"
    response = client.get(f"/apps/{world.shop_id}/logs.json?program=app&bytes=0")
    assert response.status_code == 400 and response.json["error"]["field"] == "bytes"


def test_delete_app_needs_its_name(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    response = client.post(f"/apps/{world.shop_id}/delete", data={"confirm": "wrong"})
    assert response.status_code == 302 and rq_job_ids(redis_client, "host.h1") == []
    client.post(f"/apps/{world.shop_id}/delete", data={"confirm": "shop"})
    job = newest_job(app)
    assert job.kind == "delete_app" and rq_job_ids(redis_client, "host.h1") == [job.id]


def test_admin_sees_everything(
    client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login("root@example.com")
    page = client.get("/").data.decode()
    assert "shop" in page and "blog" in page
    assert client.get(f"/apps/{world.blog_id}").status_code == 200
    jobs = client.get("/admin/jobs").data.decode()
    assert world.shop_job_id in jobs and world.blog_job_id in jobs


def test_hosts_page_shows_queue_depth_and_live_workers(
    client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    client.post(f"/apps/{world.shop_id}/control/app/restart")
    client.post(f"/apps/{world.shop_id}/control/app/stop")
    worker = Worker([job_queue("host.h2", redis_client)], connection=redis_client, name="w-h2-test")
    worker.register_birth()
    try:
        auth.logout()
        auth.login("root@example.com")
        page = client.get("/admin/hosts").data.decode()
    finally:
        worker.register_death()
    h1 = page[page.index(">h1<") : page.index(">h2<")]
    h2 = page[page.index(">h2<") :]
    assert "<td>2</td>" in h1 and "none" in h1  # two queued jobs, no worker
    assert "w-h2-test" in h2


def test_admin_creates_host_tenant_user_member(
    app: Flask, client: FlaskClient, auth: AuthActions, world: World
) -> None:
    auth.login("root@example.com")
    response = client.post("/admin/hosts", data={"name": "h3", "apps_root": "relative"})
    assert response.status_code == 400 and field_error(response.data, "apps_root")
    response = client.post("/admin/hosts", data={"name": "h3", "apps_root": "/srv/h3"})
    assert response.status_code == 302
    assert client.post("/admin/tenants", data={"name": "Gamma Ltd"}).status_code == 302
    carol = {"email": "carol@gamma.example"}
    response = client.post("/admin/users", data={**carol, "password": "short"})
    assert response.status_code == 400 and field_error(response.data, "password")
    response = client.post(
        "/admin/users", data={"email": "carol@gamma.example", "password": "long enough pw"}
    )
    assert response.status_code == 302
    page = client.get("/admin/tenants").data.decode()
    gamma_id = int(page.split("Gamma Ltd")[1].split("/admin/tenants/")[1].split("/")[0])
    client.post(
        f"/admin/tenants/{gamma_id}/members", data={"email": "carol@gamma.example", "role": "owner"}
    )
    assert "carol@gamma.example" in client.get("/admin/tenants").data.decode()
    assert "h3" in client.get("/admin/hosts").data.decode()


def test_every_page_warns_when_a_hosts_tenants_are_not_kept_apart(
    client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    assert b"data-unisolated" not in client.get("/").data  # no host status: no claim
    write_host_status(redis_client, "host.h1", True, None)
    assert b"data-unisolated" not in client.get("/").data
    write_host_status(redis_client, "host.h2", False, "not running as root")
    for path in ("/", f"/apps/{world.shop_id}"):
        page = client.get(path).data.decode()
        assert "Apps on host h2 run without containers" in page
        assert "not running as root" in page
    auth.logout()
    assert "without containers" not in client.get("/login").data.decode()
