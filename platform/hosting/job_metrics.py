"""Prometheus metrics of the platform's jobs, from the Job rows (the truth about jobs:
``hosting.job_records``), read by one grouped query per scrape however many rows there are.

- ``hosting_jobs{kind,status}`` (gauge): rows by kind and status (queued, running, done,
  failed); the queued and running ones are the work in hand.
- ``hosting_job_failures_total{kind}`` (counter): jobs that ended failed. Rows are never
  deleted, so it only grows.
- ``hosting_job_attempts_total{kind}`` (counter): attempts made, retries included.
- ``hosting_job_duration_seconds{kind}`` (histogram): finished jobs, from the start of
  their last attempt to their end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from sqlalchemy import ColumnElement, Float, case, cast, extract, func, select
from sqlalchemy.orm import Session

from hosting.metric_store import JOB_BUCKETS
from hosting.models import Job

SECONDS_PER_DAY = 86400.0
KIND_STATUS = ["kind", "status"]


def duration_seconds(dialect: str) -> ColumnElement[Any]:
    """finished_at - started_at in seconds (NULL while either is unset), in the SQL of the
    database: SQLite keeps datetimes as text, PostgreSQL subtracts them to an interval."""
    if dialect == "sqlite":
        days = func.julianday(Job.finished_at) - func.julianday(Job.started_at)
        return cast(days * SECONDS_PER_DAY, Float)
    return cast(extract("epoch", Job.finished_at - Job.started_at), Float)


def job_metric_families(session: Session) -> list[Metric]:
    duration = duration_seconds(session.get_bind().dialect.name)
    in_bucket = [func.sum(case((duration <= bound, 1), else_=0)) for bound in JOB_BUCKETS]
    rows = session.execute(
        select(
            Job.kind,
            Job.status,
            func.count(),
            func.coalesce(func.sum(Job.attempts), 0),
            func.count(duration),
            func.coalesce(func.sum(duration), 0.0),
            *in_bucket,
        ).group_by(Job.kind, Job.status)
    ).all()

    jobs = GaugeMetricFamily("hosting_jobs", "Job rows by kind and status.", labels=KIND_STATUS)
    failures = CounterMetricFamily(
        "hosting_job_failures_total", "Jobs that ended failed, by kind.", labels=["kind"]
    )
    attempts = CounterMetricFamily(
        "hosting_job_attempts_total", "Attempts made at jobs, retries included.", labels=["kind"]
    )
    durations = HistogramMetricFamily(
        "hosting_job_duration_seconds",
        "Finished jobs: start of the last attempt to the end.",
        labels=["kind"],
    )
    per_kind: dict[str, KindTotals] = {}
    for kind, status, count, tried, timed, total, *buckets in rows:
        jobs.add_metric([kind, status], count)
        totals = per_kind.setdefault(kind, KindTotals(buckets=[0] * len(JOB_BUCKETS)))
        totals.failed += count if status == "failed" else 0
        totals.attempts += int(tried)
        totals.timed += int(timed)
        totals.seconds += float(total)
        totals.buckets = [a + int(b or 0) for a, b in zip(totals.buckets, buckets, strict=True)]
    bounds = [floatToGoString(bound) for bound in JOB_BUCKETS]
    for kind, totals in sorted(per_kind.items()):
        failures.add_metric([kind], totals.failed)
        attempts.add_metric([kind], totals.attempts)
        cumulative = [*zip(bounds, totals.buckets, strict=True), ("+Inf", totals.timed)]
        durations.add_metric([kind], cumulative, totals.seconds)
    return [jobs, failures, attempts, durations]


@dataclass
class KindTotals:
    """One kind's rows summed over their statuses."""

    buckets: list[int]  # finished jobs at most each of JOB_BUCKETS long
    failed: int = 0
    attempts: int = 0
    timed: int = 0  # finished jobs (those with a duration)
    seconds: float = 0.0
