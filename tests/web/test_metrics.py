"""The panel's GET /metrics, scraped over real HTTP (werkzeug's server in a thread, and
gunicorn processes) and parsed with prometheus_client's parser: who may read it, and that
its numbers follow the requests, the Job rows, the queues and the hosts' status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from hosting.job_records import finish_job, record_job, start_job
from hosting.models import App, Job, utcnow
from hosting.queue import push_job
from hosting.status import write_host_status
from sqlalchemy import event

from admin_web import create_app
from admin_web.extensions import databases
from tests.prometheus_text import get, parse, value
from tests.roles.playbook import free_port
from tests.web.browser import ServerThread
from tests.web.fixtures import World, populate

TOKEN = "metrics-token-for-tests"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def panel(app_config: dict[str, Any], fast_passwords: None) -> Iterator[Flask]:
    application = create_app({**app_config, "METRICS_TOKEN": TOKEN})
    yield application
    databases(application).dispose()
    application.extensions["redis"].close()


@pytest.fixture
def served(panel: Flask) -> Iterator[tuple[ServerThread, World]]:
    world = populate(panel, Path("/srv/paneltest"))
    with ServerThread(panel) as server:
        yield server, world


def test_no_token_configured_is_a_404(app: Flask, world: World) -> None:
    with ServerThread(app) as server:
        status, _type, _body = get(server.url + "/metrics", token="anything")
        assert status == 404
        assert get(server.url + "/metrics")[0] == 404


def test_only_the_operators_token_reads_it(served: tuple[ServerThread, World]) -> None:
    server, world = served
    url = server.url + "/metrics"
    assert get(url)[0] == 401
    assert get(url, token=TOKEN + "x")[0] == 401
    # A tenant's valid API token (it works on the API) is no metrics token.
    assert get(server.url + "/api/v1/apps", token=world.alice_token)[0] == 200
    status, _type, body = get(url, token=world.alice_token)
    assert status == 401 and "hosting_" not in body
    status, content_type, body = get(url, token=TOKEN)
    assert status == 200 and content_type.startswith("text/plain; version=")
    types, _samples = parse(body)
    assert types["hosting_http_requests"] == "counter"
    assert types["hosting_http_request_duration_seconds"] == "histogram"
    assert types["hosting_jobs"] == "gauge"
    assert types["hosting_job_duration_seconds"] == "histogram"
    assert types["hosting_queue_depth"] == "gauge"


def test_requests_are_counted_with_their_latency(served: tuple[ServerThread, World]) -> None:
    server, _world = served
    for _ in range(3):
        assert get(server.url + "/healthz")[0] == 200
    assert get(server.url + "/no/such/page")[0] == 404
    _types, samples = parse(get(server.url + "/metrics", token=TOKEN)[2])
    ok = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    assert value(samples, "hosting_http_requests_total", **ok) == 3
    unmatched = {**ok, "endpoint": "unmatched", "status": "404"}
    assert value(samples, "hosting_http_requests_total", **unmatched) == 1
    latency = "hosting_http_request_duration_seconds"
    assert value(samples, latency + "_count", endpoint="health.healthz") == 3
    assert value(samples, latency + "_bucket", endpoint="health.healthz", le="10.0") == 3
    assert 0 < value(samples, latency + "_sum", endpoint="health.healthz") < 10


def test_a_redis_that_refuses_us_does_not_hold_requests_up(
    app_config: dict[str, Any], fast_passwords: None, redis_client: redis.Redis
) -> None:
    """Counting a request is a hint: a Redis that refuses the panel (here: a password it
    was not given) loses the count at once, rather than after redis-py's retries (3 to 5
    s a call, for a client made with them, as the panel's own may be), and the request is
    answered."""
    redis_client.config_set("requirepass", "not-the-panels")
    try:
        panel = create_app({**app_config, "METRICS_TOKEN": TOKEN})
        socket_path = app_config["REDIS_URL"].removeprefix("unix://")
        panel.extensions["redis"] = redis.Redis(unix_socket_path=socket_path)  # retries
        with ServerThread(panel) as server:
            started = time.monotonic()
            status, _type, _body = get(server.url + "/healthz")
            elapsed = time.monotonic() - started
        databases(panel).dispose()
    finally:
        redis_client.execute_command("AUTH", "not-the-panels")
        redis_client.config_set("requirepass", "")
    assert status == 200
    assert elapsed < 2.5, f"/healthz took {elapsed:.1f} s: the count was retried"


def test_jobs_follow_the_job_rows(served: tuple[ServerThread, World], panel: Flask) -> None:
    server, world = served

    def scrape() -> dict[Any, float]:
        return parse(get(server.url + "/metrics", token=TOKEN)[2])[1]

    samples = scrape()  # populate queued one apply_services job per app
    assert value(samples, "hosting_jobs", kind="apply_services", status="queued") == 2
    assert value(samples, "hosting_job_failures_total", kind="apply_services") == 0

    sessions = databases(panel).writes
    with sessions() as session:
        start_job(session, world.shop_job_id)
        start_job(session, world.blog_job_id)
        session.commit()
    samples = scrape()
    assert value(samples, "hosting_jobs", kind="apply_services", status="running") == 2
    assert value(samples, "hosting_job_attempts_total", kind="apply_services") == 2
    with sessions() as session:
        finish_job(session, world.shop_job_id, result={"ok": True})
        finish_job(session, world.blog_job_id, error="it broke")
        # Durations are what the rows say: make them known ones.
        for job_id, seconds in ((world.shop_job_id, 0.2), (world.blog_job_id, 40.0)):
            job = session.get(Job, job_id)
            job.finished_at = job.started_at + timedelta(seconds=seconds)
        session.commit()
    samples = scrape()
    assert value(samples, "hosting_jobs", kind="apply_services", status="done") == 1
    assert value(samples, "hosting_jobs", kind="apply_services", status="failed") == 1
    assert value(samples, "hosting_jobs", kind="apply_services", status="running") == 0
    assert value(samples, "hosting_job_failures_total", kind="apply_services") == 1
    duration = "hosting_job_duration_seconds"
    assert value(samples, duration + "_count", kind="apply_services") == 2
    assert value(samples, duration + "_sum", kind="apply_services") == pytest.approx(40.2, abs=0.01)
    assert value(samples, duration + "_bucket", kind="apply_services", le="0.25") == 1
    assert value(samples, duration + "_bucket", kind="apply_services", le="30.0") == 1
    assert value(samples, duration + "_bucket", kind="apply_services", le="60.0") == 2
    assert value(samples, duration + "_bucket", kind="apply_services", le="+Inf") == 2


def test_queue_depth_and_status_age_per_host(
    served: tuple[ServerThread, World], redis_client: redis.Redis
) -> None:
    server, _world = served
    push_job(redis_client, "host.h1", "job-1", "test", 60)
    push_job(redis_client, "host.h1", "job-2", "test", 60)
    write_host_status(redis_client, "host.h1", True, None, ttl=30)
    samples = parse(get(server.url + "/metrics", token=TOKEN)[2])[1]
    assert value(samples, "hosting_queue_depth", queue="host.h1") == 2
    assert value(samples, "hosting_queue_depth", queue="host.h2") == 0
    assert value(samples, "hosting_host_status_present", queue="host.h1") == 1
    assert value(samples, "hosting_host_status_present", queue="host.h2") == 0
    assert 0 <= value(samples, "hosting_host_status_age_seconds", queue="host.h1") < 30
    assert ("hosting_host_status_age_seconds", frozenset({("queue", "host.h2")})) not in samples


def test_one_query_for_the_jobs_however_many_rows(
    served: tuple[ServerThread, World], panel: Flask
) -> None:
    """1,000 Job rows: the scrape reads them with one grouped query (and one for the hosts);
    prints what a scrape costs."""
    server, world = served
    sessions = databases(panel).writes
    with sessions() as session:
        app = session.get(App, world.shop_id)
        for number in range(1000):
            job = record_job(session, ("apply_services", "program_action")[number % 2], app=app)
            job.status = ("done", "failed", "queued")[number % 3]
            job.started_at = utcnow()
            job.finished_at = job.started_at + timedelta(seconds=number % 50)
        session.commit()
    statements: list[str] = []
    engine = databases(panel).read_engine

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    get(server.url + "/metrics", token=TOKEN)  # warm: first connection, imports
    event.listen(engine, "before_cursor_execute", count)
    try:
        timings = []
        for _ in range(5):
            statements.clear()
            started = time.perf_counter()
            status, _type, body = get(server.url + "/metrics", token=TOKEN)
            timings.append(time.perf_counter() - started)
            assert status == 200
            selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
            assert len(selects) == 2, selects
    finally:
        event.remove(engine, "before_cursor_execute", count)
    samples = parse(body)[1]
    total = sum(
        value(samples, "hosting_jobs", kind=kind, status=status)
        for kind in ("apply_services", "program_action")
        for status in ("queued", "running", "done", "failed")
    )
    assert total == 1002
    print(f"scrape with 1,002 job rows: median {sorted(timings)[2] * 1000:.1f} ms")


def test_gunicorn_processes_add_up(
    app_config: dict[str, Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Two panel processes (gunicorn, one worker each) count into the same numbers."""
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": app_config["DATABASE_URL"],
        "REDIS_URL": app_config["REDIS_URL"],
        "HOSTING_DATA_DIR": str(tmp_path),
        "SECRET_KEY": "test-secret",
        "METRICS_TOKEN": TOKEN,
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "admin_web:create_app()"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port, server in zip(ports, servers, strict=True):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if get(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.1)
        ok = {"endpoint": "health.healthz", "method": "GET", "status": "200"}

        def healthz_count(port: int) -> float:
            samples = parse(get(f"http://127.0.0.1:{port}/metrics", token=TOKEN)[2])[1]
            return value(samples, "hosting_http_requests_total", **ok)

        # (A probe that timed out above may still have been answered: count from here.)
        before = healthz_count(ports[0])
        assert healthz_count(ports[1]) == before
        for port, times in zip(ports, (4, 2), strict=True):
            for _ in range(times):
                assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert healthz_count(ports[0]) == healthz_count(ports[1]) == before + 6
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(30)


def test_the_grafana_dashboard_queries_only_metrics_we_serve(
    served: tuple[ServerThread, World],
) -> None:
    """docs/grafana/hosting-platform.json is a dashboard, and every metric its queries name
    is one the panel (scraped here) or the workers (workers.metrics.SPECS) serve."""
    from workers.metrics import SPECS

    server, _world = served
    types, _samples = parse(get(server.url + "/metrics", token=TOKEN)[2])
    types.update({spec.name.removesuffix("_total"): spec.kind for spec in SPECS})
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    served_names = {name + end for name, kind in types.items() for end in suffixes[kind]}

    dashboard = json.loads((REPO / "docs/grafana/hosting-platform.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["panels"]
    queried = set()
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["type"] in ("timeseries", "stat") and panel["targets"]
        for target in panel["targets"]:
            queried |= set(re.findall(r"\bhosting_[a-z_]+", target["expr"]))
    assert queried and queried <= served_names, queried - served_names
    # Each part the issue asks a panel for is on the dashboard.
    asked_for = {
        "hosting_worker_job_runs_total",
        "hosting_job_failures_total",
        "hosting_worker_job_duration_seconds_bucket",
        "hosting_queue_depth",
        "hosting_host_status_age_seconds",
        "hosting_http_request_duration_seconds_bucket",
    }
    assert asked_for <= queried
