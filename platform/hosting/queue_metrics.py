"""Prometheus metrics of hosts' queues, read from Redis: the panel serves them for every
host, a host's workers' endpoint for its own queue.

- ``hosting_queue_depth{queue}`` (gauge): RQ jobs waiting on the queue.
- ``hosting_host_status_present{queue}`` (gauge): 1 while the host's status program keeps
  its status fresh (``hosting.status.read_host_status``), 0 once it expired.
- ``hosting_host_status_age_seconds{queue}`` (gauge): seconds since that status was
  written; only for hosts whose status is present.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from hosting.queue import job_queue
from hosting.status import read_host_status


def queue_metric_families(
    redis: Any, queues: Sequence[str], now: float | None = None
) -> list[Metric]:
    now = time.time() if now is None else now
    depth = GaugeMetricFamily("hosting_queue_depth", "RQ jobs waiting.", labels=["queue"])
    present = GaugeMetricFamily(
        "hosting_host_status_present", "1 while the host's status is fresh.", labels=["queue"]
    )
    age = GaugeMetricFamily(
        "hosting_host_status_age_seconds", "Age of the host's last status.", labels=["queue"]
    )
    with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(job_queue(queue, redis).key)
        lengths = pipe.execute()
    for queue, length in zip(queues, lengths, strict=True):
        depth.add_metric([queue], length)
        status = read_host_status(redis, queue)
        present.add_metric([queue], 0 if status is None else 1)
        if status is not None:
            age.add_metric([queue], max(0.0, now - float(status["updated"])))
    return [depth, present, age]
