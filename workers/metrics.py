"""A host's worker metrics: recorded in Redis by the workers and helpers, served for
Prometheus by one program, ``python -m workers.metrics --host-root DIR`` (docs/METRICS.md).

A host runs several worker processes, each restarted now and then: a count kept in one's
memory would be split between them and lost with it. So the workers, the reconciler and the
status program add to the host's hash in Redis (``hosting.metric_store``, source
``host:<queue>``), and the host runtime's ``metrics-<queue>`` program, run only when the
host's ``metrics_listen`` is set (off by default), serves them with the queue's depth and
status age on that address: a loopback one, since the host's Prometheus (or its agent, or a
proxy) scrapes it there.

What is recorded:

- per attempt of a job (``count_attempt``, after the worker ran it): its outcome from
  the Job row (done, failed, retry: queued again, lost: still running when the worker was
  done with it) and its duration (the row's start of the attempt to its end);
- per reconciler pass: jobs pushed again, attempts found lost, and the time of the pass;
- per status round: its time.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from hosting.db import session_scope
from hosting.metric_store import JOB_BUCKETS, RedisMetrics, Spec
from hosting.models import Job, utcnow
from hosting.queue_metrics import queue_metric_families
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric

from workers.host import HostConfig, parse_listen
from workers.rounds import start_helper

log = logging.getLogger("workers.metrics")

SPECS = (
    Spec(
        "hosting_worker_job_runs_total",
        "counter",
        "Attempts this host's workers ran, by kind and outcome (done, failed, retry, lost).",
        ("kind", "outcome"),
    ),
    Spec(
        "hosting_worker_job_duration_seconds",
        "histogram",
        "Duration of the attempts this host's workers ran, by kind.",
        ("kind",),
        JOB_BUCKETS,
    ),
    Spec(
        "hosting_worker_job_retries_total",
        "counter",
        "Attempts that failed and left their job queued for another, by kind.",
        ("kind",),
    ),
    Spec("hosting_reconciler_repushed_total", "counter", "Jobs the reconciler pushed again."),
    Spec(
        "hosting_reconciler_lost_attempts_total",
        "counter",
        "Running attempts the reconciler found lost (their worker gone).",
    ),
    Spec(
        "hosting_helper_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last round that succeeded, by program (status, reconciler).",
        ("program",),
    ),
)
# The Job row's status after an attempt, as the attempt's outcome.
OUTCOMES = {"done": "done", "failed": "failed", "queued": "retry", "running": "lost"}


def host_metrics(queue: str) -> RedisMetrics:
    return RedisMetrics(f"host:{queue}", SPECS)


def count_attempt(context: Any, job_id: str, attempt: int | None) -> None:
    """Record the attempt this process just made at ``job_id`` (``attempt``: its number,
    None when it made none: the job was finished, or another worker's); ``context``: the
    job's (``workers.job_handlers.Context``). Never raises: a job's outcome is recorded in
    its row already, a lost count must not turn it into a failure."""
    if attempt is None:
        return
    try:
        with session_scope(context.reads) as session:
            job = session.get(Job, job_id)
            if job is None or job.started_at is None:
                return
            kind, outcome = job.kind, OUTCOMES.get(job.status, job.status)
            seconds = ((job.finished_at or utcnow()) - job.started_at).total_seconds()
        metrics = host_metrics(context.host.queue)
        with context.redis.pipeline(transaction=False) as pipe:
            metrics.inc(pipe, "hosting_worker_job_runs_total", [kind, outcome])
            metrics.observe(pipe, "hosting_worker_job_duration_seconds", [kind], max(0.0, seconds))
            if outcome == "retry":
                metrics.inc(pipe, "hosting_worker_job_retries_total", [kind])
            pipe.execute()
    except Exception:
        log.exception("job %s: its attempt was not counted", job_id)


def round_done(redis: Any, queue: str, program: str, **counts: int) -> None:
    """A round of ``program`` succeeded; ``counts``: counters it adds to (name: amount)."""
    metrics = host_metrics(queue)
    with redis.pipeline(transaction=False) as pipe:
        for name, amount in counts.items():
            if amount:
                metrics.inc(pipe, name, (), amount)
        metrics.set(pipe, "hosting_helper_last_success_timestamp_seconds", [program], time.time())
        pipe.execute()


class HostCollector:
    """One scrape: the host's hash and its queue (depth, status age)."""

    def __init__(self, redis: Any, queue: str) -> None:
        self.redis, self.queue = redis, queue

    def collect(self) -> list[Metric]:
        return [
            *host_metrics(self.queue).collect(self.redis),
            *queue_metric_families(self.redis, [self.queue]),
        ]


def serve(host: HostConfig, redis: Any) -> tuple[Any, Any]:
    """Serve the host's metrics on ``host.metrics_listen``; (server, its thread)."""
    if not host.metrics_listen:
        raise SystemExit("this host has no metrics_listen: nothing to serve")
    address, port = parse_listen(host.metrics_listen)
    registry = CollectorRegistry()
    registry.register(HostCollector(redis, host.queue))
    return start_http_server(port, address, registry)


def main(argv: Sequence[str] | None = None) -> int:
    helper = start_helper(argv, "python -m workers.metrics", __doc__)
    _server, thread = serve(helper.host, helper.redis)
    log.info("serving metrics on http://%s/metrics", helper.host.metrics_listen)
    thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
