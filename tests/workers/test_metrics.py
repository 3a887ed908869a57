"""A host's worker metrics (workers.metrics): real redis-server, a host runtime running real
RQ workers, the reconciler, the status poller and the metrics program, scraped over HTTP
and parsed with prometheus_client's parser while jobs run and fail."""

from __future__ import annotations

import pytest
from hosting.job_records import record_job
from hosting.models import App

from tests.prometheus_text import get, parse, value
from tests.workers.fixtures import Platform, free_port, wait_until
from workers.files import ConfigRefused
from workers.host import host_config, host_config_text, parse_listen

pytestmark = pytest.mark.timeout(180)


def scrape(url: str) -> dict:
    status, content_type, body = get(url)
    assert status == 200 and content_type.startswith("text/plain"), (status, body[:200])
    return parse(body)[1]


def test_worker_metrics_follow_jobs_as_they_run_and_fail(platform: Platform) -> None:
    port = free_port()
    platform.add_host("h1", metrics_listen=f"127.0.0.1:{port}")
    queue = platform.hosts["h1"].queue
    url = f"http://127.0.0.1:{port}/metrics"
    # The metrics program starts with the host runtime; the helpers' rounds are stamped.
    samples = wait_until(
        lambda: (
            (s := scrape_or_none(url))
            and value(s, "hosting_helper_last_success_timestamp_seconds", program="status")
            and value(s, "hosting_helper_last_success_timestamp_seconds", program="reconciler")
            and s
        ),
        30,
        "the metrics program and the helpers' first rounds",
    )
    assert value(samples, "hosting_queue_depth", queue=queue) == 0
    assert value(samples, "hosting_host_status_present", queue=queue) == 1
    assert value(samples, "hosting_host_status_age_seconds", queue=queue) < 10

    app_id, _port = platform.create_app()
    platform.run("create_app", app_id)
    failed = platform.wait_job(
        platform.enqueue("program_action", app_id, action="restart", program="nosuch")
    )
    assert failed.status == "failed"
    runs = "hosting_worker_job_runs_total"
    # The work horse counts an attempt after it recorded its outcome in the row: wait.
    samples = wait_until(
        lambda: (
            (s := scrape(url))
            and value(s, runs, kind="program_action", outcome="failed")
            and value(s, runs, kind="create_app", outcome="done")
            and s
        ),
        10,
        "both attempts counted",
    )
    assert value(samples, runs, kind="create_app", outcome="done") == 1
    assert value(samples, runs, kind="program_action", outcome="failed") == 1
    duration = "hosting_worker_job_duration_seconds"
    assert value(samples, duration + "_count", kind="create_app") == 1
    assert value(samples, duration + "_sum", kind="create_app") > 0
    assert value(samples, duration + "_bucket", kind="program_action", le="+Inf") == 1

    # A queued row that Redis never got: the reconciler pushes it, a worker runs it.
    with platform.sessions() as session:
        job = record_job(session, "apply_services", app=session.get(App, app_id), actor="test")
        session.commit()
        job_id = job.id
    assert platform.wait_job(job_id).status == "done"
    samples = wait_until(
        lambda: (s := scrape(url)) and value(s, runs, kind="apply_services", outcome="done") and s,
        10,
        "the re-pushed job's run counted",
    )
    assert value(samples, "hosting_reconciler_repushed_total") >= 1
    assert value(samples, "hosting_reconciler_lost_attempts_total") == 0
    assert value(samples, runs, kind="create_app", outcome="done") == 1  # counted once


def scrape_or_none(url: str) -> dict | None:
    try:
        return scrape(url)
    except OSError:  # not listening yet
        return None


def test_no_metrics_program_unless_asked(tmp_path) -> None:
    settings = {"redis_url": "unix:///x", "database_url": "sqlite:///x", "containers": False}
    off = host_config(str(tmp_path), "host.h1", **settings)
    assert off.metrics_listen is None and "metrics-" not in host_config_text(off)
    on = host_config(str(tmp_path), "host.h1", metrics_listen="127.0.0.1:9464", **settings)
    assert "[program:metrics-host-h1]" in host_config_text(on)
    assert "-m workers.metrics --host-root" in host_config_text(on)


REFUSED = ("0.0.0.0:9464", "10.1.2.3:9464", "localhost:9464", "127.0.0.1", "127.0.0.1:0")


@pytest.mark.parametrize("listen", [*REFUSED, "127.0.0.1:70000", "[::]:9464"])
def test_metrics_listen_must_be_a_loopback_address(listen: str) -> None:
    with pytest.raises(ConfigRefused, match="not a loopback address and port"):
        parse_listen(listen)


def test_metrics_listen_forms() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
