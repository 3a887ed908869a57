"""Counters, histograms and gauges kept in a Redis hash, exposed with ``prometheus_client``.

Why Redis and not prometheus_client's own in-process values: the panel runs as several
gunicorn worker processes, and RQ runs each job in a work horse forked for it that exits
afterwards, so counts kept in a process's memory are split between processes or lost with
the work horse. prometheus_client's multiprocess mode would keep one set of files per pid,
a new set for every job. Here every process adds to one hash per source
(``hosting:metrics:<source>``, e.g. ``panel`` or ``host:<queue>``) with ``HINCRBY`` (atomic,
so processes add up), and a scrape reads it with one ``HGETALL``. Counters survive the
restart of any process; they restart from zero only if Redis loses its data, which
Prometheus's ``rate()`` takes as a counter reset.

A metric is declared once (``Spec``); its samples are hash fields named by JSON
``[sample name, label values...]`` (label values may hold any character). A histogram keeps
cumulative buckets (``le`` last among the values) and its sum; its count is the ``+Inf``
bucket.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

KEY_PREFIX = "hosting:metrics:"
# Seconds: from a fast HTTP request to a job near its timeout (DEFAULT_JOB_TIMEOUT, 300 s).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Spec:
    """One metric: its name (a counter's ends in ``_total``), type, help and label names."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # a histogram's upper bounds, +Inf added

    def bounds(self) -> tuple[float, ...]:
        return (*self.buckets, math.inf)


def _field(name: str, values: Sequence[str]) -> str:
    return json.dumps([name, *values])


class RedisMetrics:
    """The metrics of one source: ``inc``/``observe``/``set`` add commands to a pipeline
    (the caller executes it: one round trip for all it records), ``collect`` reads them."""

    def __init__(self, source: str, specs: Iterable[Spec]) -> None:
        self.key = KEY_PREFIX + source
        self.specs = {spec.name: spec for spec in specs}

    def _spec(self, name: str, kind: str, labels: Sequence[str]) -> Spec:
        spec = self.specs[name]
        if spec.kind != kind or len(labels) != len(spec.labels):
            raise ValueError(f"{name} is a {spec.kind} with labels {spec.labels}, not {labels}")
        return spec

    def inc(self, pipe: Any, name: str, labels: Sequence[str] = (), amount: int = 1) -> None:
        self._spec(name, "counter", labels)
        pipe.hincrby(self.key, _field(name, labels), amount)

    def set(self, pipe: Any, name: str, labels: Sequence[str], value: float) -> None:
        self._spec(name, "gauge", labels)
        pipe.hset(self.key, _field(name, labels), repr(float(value)))

    def observe(self, pipe: Any, name: str, labels: Sequence[str], value: float) -> None:
        spec = self._spec(name, "histogram", labels)
        for bound in spec.bounds():
            if value <= bound:
                pipe.hincrby(self.key, _field(name, [*labels, floatToGoString(bound)]), 1)
        pipe.hincrbyfloat(self.key, _field(name + "_sum", labels), value)

    def collect(self, redis: Any) -> list[Metric]:
        """Every declared metric with what the hash holds (one HGETALL)."""
        values: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
        for raw_field, raw_value in redis.hgetall(self.key).items():
            try:
                name, *labels = json.loads(raw_field)
                values[name][tuple(labels)] = float(raw_value)
            except (ValueError, TypeError):
                continue  # not ours (someone else wrote into the hash): left out
        return [self._family(spec, values) for spec in self.specs.values()]

    def _family(self, spec: Spec, values: dict[str, dict[tuple[str, ...], float]]) -> Metric:
        labels = list(spec.labels)
        samples = values.get(spec.name, {})
        if spec.kind == "counter":
            counter = CounterMetricFamily(spec.name, spec.help, labels=labels)
            for key, value in sorted(samples.items()):
                counter.add_metric(list(key), value)
            return counter
        if spec.kind == "gauge":
            gauge = GaugeMetricFamily(spec.name, spec.help, labels=labels)
            for key, value in sorted(samples.items()):
                gauge.add_metric(list(key), value)
            return gauge
        histogram = HistogramMetricFamily(spec.name, spec.help, labels=labels)
        sums = values.get(spec.name + "_sum", {})
        for key, total in sorted(sums.items()):
            buckets = [
                (floatToGoString(bound), samples.get((*key, floatToGoString(bound)), 0.0))
                for bound in spec.bounds()
            ]
            histogram.add_metric(list(key), buckets, total)
        return histogram
