"""``GET /metrics``: the panel's Prometheus metrics (docs/METRICS.md).

Served only to ``Authorization: Bearer <METRICS_TOKEN>``, a token the operator sets in the
panel's environment; with none set, the path is a 404, as if it did not exist. The numbers
are platform-wide (every host's queue, every kind of job), so neither a tenant's session nor
a tenant's API token reads them. A token rather than a separate loopback listener: gunicorn
serves one bind per panel here, and the Prometheus that scrapes it is rarely on the same
machine; a token works through the same reverse proxy and TLS as the rest of the panel.

What it serves: the HTTP requests of every panel process (kept in Redis,
``hosting.metric_store``: gunicorn's workers add to one count), the jobs from the Job
rows (``hosting.job_metrics``, one grouped query), and every host's queue depth and status
age (``hosting.queue_metrics``).
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from hosting.job_metrics import job_metric_families
from hosting.metric_store import HTTP_BUCKETS, RedisMetrics, Spec
from hosting.models import Host
from hosting.queue_metrics import queue_metric_families
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from redis.exceptions import RedisError
from sqlalchemy import select

from admin_web.extensions import get_quick_redis, get_redis, get_session

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

HTTP = RedisMetrics(
    "panel",
    [
        Spec(
            "hosting_http_requests_total",
            "counter",
            "HTTP requests the panel answered, by endpoint, method and status.",
            ("endpoint", "method", "status"),
        ),
        Spec(
            "hosting_http_request_duration_seconds",
            "histogram",
            "Time to the panel's response (its headers, for a stream), by endpoint.",
            ("endpoint",),
            HTTP_BUCKETS,
        ),
    ],
)
# Requests that matched no route share one label value: paths are the client's choice.
UNMATCHED = "unmatched"


def init_app(app: Flask) -> None:
    app.before_request(_start_clock)
    app.after_request(_count_request)


def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None:  # a request that failed before any before_request ran
        return response
    endpoint = request.endpoint or UNMATCHED
    try:
        with get_quick_redis().pipeline(transaction=False) as pipe:
            labels = [endpoint, request.method, str(response.status_code)]
            HTTP.inc(pipe, "hosting_http_requests_total", labels)
            seconds = time.perf_counter() - started
            HTTP.observe(pipe, "hosting_http_request_duration_seconds", [endpoint], seconds)
            pipe.execute()
    except RedisError as exc:  # the request itself succeeded: only its count is lost
        log.warning("request not counted: %s", exc)
    return response


class PanelCollector:
    """What one scrape reads: Redis's HTTP counts, the Job rows, the hosts' queues."""

    def collect(self) -> list[Metric]:
        redis, session = get_redis(), get_session()
        queues = list(session.scalars(select(Host.queue).order_by(Host.queue)))
        return [
            *HTTP.collect(redis),
            *job_metric_families(session),
            *queue_metric_families(redis, queues),
        ]


def authorized(token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.get("/metrics")
def metrics() -> Any:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)  # exactly the 404 of a path that does not exist
    if not authorized(token):
        return Response(
            "send Authorization: Bearer <METRICS_TOKEN>\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    registry = CollectorRegistry()
    registry.register(PanelCollector())
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
