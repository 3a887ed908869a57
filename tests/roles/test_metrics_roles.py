"""The roles with metrics turned on (docs/METRICS.md): platform_web_metrics_token reaches the
panel's environment, platform_host_metrics_listen runs the host's metrics program; both
endpoints, as deployed, are scraped and parsed with prometheus_client's parser."""

from __future__ import annotations

import time

import pytest

from tests.prometheus_text import get, parse, value
from tests.roles.playbook import Install, free_port
from tests.roles.test_playbook import running

pytestmark = pytest.mark.timeout(600)
TOKEN = "roles-metrics-token"


def wait_scrape(url: str, token: str | None = None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _type, body = get(url, token=token, timeout=5)
            if status == 200:
                return parse(body)[1]
        except OSError:
            status, body = None, ""
        assert time.monotonic() < deadline, f"{url}: {status} {body[:300]}"
        time.sleep(0.2)


def test_metrics_turned_on_by_the_roles(install: Install) -> None:
    port = free_port()
    install.more_vars.update(
        platform_web_metrics_token=TOKEN, platform_host_metrics_listen=f"127.0.0.1:{port}"
    )
    done, recap = install.playbook()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert recap.failed == 0

    host = install.ctl(install.host_conf, "status")
    assert running(host.stdout).get("metrics-localhost") == "RUNNING", host.stdout
    workers = wait_scrape(f"http://127.0.0.1:{port}/metrics")
    assert value(workers, "hosting_queue_depth", queue="localhost") == 0
    deadline = time.monotonic() + 30
    while not value(workers, "hosting_helper_last_success_timestamp_seconds", program="status"):
        assert time.monotonic() < deadline, "no status round recorded"
        time.sleep(0.2)
        workers = wait_scrape(f"http://127.0.0.1:{port}/metrics")

    panel = f"http://127.0.0.1:{install.web_port}/metrics"
    assert get(panel)[0] == 401  # the token is set: asked for, not a 404
    samples = wait_scrape(panel, token=TOKEN)
    assert value(samples, "hosting_host_status_present", queue="localhost") == 1
    assert value(samples, "hosting_http_requests_total", endpoint="health.readyz", method="GET",
                 status="200") >= 1  # the rollout's health gate  # fmt: skip
