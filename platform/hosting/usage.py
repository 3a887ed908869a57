"""CPU and memory of each app and of each of its programs, kept in Redis for the panel's
graphs: written by the host's usage sampler (``workers.usage``), read by the panel and the API.

Two hashes per app, each a ring of slots that new samples overwrite, so an app's share of
Redis never grows:

- ``hosting:usage:<app_id>:hour``: one sample per ``step`` seconds (the sampler's interval,
  10 s by default, kept in the hash's ``step`` field), the last hour;
- ``hosting:usage:<app_id>:day``: the averages (and the memory's maximum) of each 5 minute
  bucket, the last day.

Each slot holds JSON ``{"t": <start of its step>, "a": [cpu, memory(, memory max)],
"p": {"group:name": [cpu, memory(, memory max)]}}``: CPU in percent of one core (200 is
two cores busy) to 0.1, memory in KiB (bytes when read), null where nothing was measured.
Both keys expire a little after their range, so a deleted app's graphs go away by
themselves; every write renews them.

``read_series`` lays the slots on a regular time grid ending now, with ``None`` for slots
without a sample (the sampler was down, the app was stopped): the chart shows a gap there.

Works with Redis clients made with or without ``decode_responses``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from hosting.errors import InvalidInput
from hosting.live_events import read_history

KEY_PREFIX = "hosting:usage:"
HOUR_SECONDS = 3600
DAY_SECONDS = 86400
DAY_STEP = 300  # the day series: one point per 5 minutes
DEFAULT_STEP = 10  # the hour series: one point per sampler round
RANGES = ("hour", "day")
KEEP_EXTRA = 600  # seconds a key outlives its range (a sampler restart loses nothing)

Point = list[float | None]  # [cpu, memory] or, for a bucket, [cpu, memory, memory max]


def usage_key(app_id: int, range_: str) -> str:
    return f"{KEY_PREFIX}{app_id}:{range_}"


@dataclass
class Sample:
    """One round's measures of one app: the whole app and each program (``group:name``)."""

    t: int  # the start of the step it belongs to (unix seconds)
    app: Point
    processes: dict[str, Point] = field(default_factory=dict)

    def encode(self) -> str:
        """The slot's JSON: CPU to 0.1 %, memory in whole KiB (what the graphs can show,
        and a third smaller to keep than bytes)."""
        processes = {name: _stored(point) for name, point in self.processes.items()}
        value = {"t": self.t, "a": _stored(self.app), "p": processes}
        return json.dumps(value, separators=(",", ":"))


def _stored(point: Point) -> list[float | int | None]:
    cpu, *memory = point
    return [
        None if cpu is None else round(cpu, 1),
        *(None if m is None else int(m) // 1024 for m in memory),
    ]


def _loaded(point: list[Any]) -> Point:
    cpu, *memory = point
    return [cpu, *(None if m is None else m * 1024 for m in memory)]


class _Mean:
    """Running mean of the present values (None when none was present)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self.top: float | None = None

    def add(self, value: float | None) -> None:
        if value is None:
            return
        self.total += value
        self.count += 1
        self.top = value if self.top is None else max(self.top, value)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


class _PointMean:
    def __init__(self) -> None:
        self.cpu, self.memory = _Mean(), _Mean()

    def add(self, point: Point) -> None:
        self.cpu.add(point[0])
        self.memory.add(point[1])

    def value(self) -> Point:
        return [self.cpu.mean, self.memory.mean, self.memory.top]


class Bucket:
    """The day series' current 5 minute bucket of one app, built up as samples come: each
    write stores the averages so far (a sampler restart starts the bucket afresh)."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.app = _PointMean()
        self.processes: dict[str, _PointMean] = {}

    def add(self, sample: Sample) -> None:
        self.app.add(sample.app)
        for name, point in sample.processes.items():
            self.processes.setdefault(name, _PointMean()).add(point)

    def sample(self) -> Sample:
        processes = {name: mean.value() for name, mean in self.processes.items()}
        return Sample(self.start, self.app.value(), processes)


def bucket_start(t: float, step: int = DAY_STEP) -> int:
    return int(t // step * step)


def downsample(samples: list[Sample], step: int = DAY_STEP) -> list[Sample]:
    """``samples`` (oldest first) averaged into buckets of ``step`` seconds: what the day
    series holds, the memory's maximum beside its mean."""
    buckets: dict[int, Bucket] = {}
    for sample in samples:
        start = bucket_start(sample.t, step)
        buckets.setdefault(start, Bucket(start)).add(sample)
    return [buckets[start].sample() for start in sorted(buckets)]


def slot(t: int, step: int, span: int) -> int:
    """The ring slot of time ``t``: slots are reused after ``span`` seconds."""
    return (t // step) % math.ceil(span / step)


def write_samples(redis: Any, samples: dict[int, tuple[Sample, Sample]], step: int) -> None:
    """Store one round: per app id, (this round's sample, its 5 minute bucket so far), in
    one pipeline. ``step``: the sampler's interval (the hour series' resolution)."""
    pipe = redis.pipeline(transaction=False)
    for app_id, (sample, bucket) in samples.items():
        hour, day = usage_key(app_id, "hour"), usage_key(app_id, "day")
        index = str(slot(sample.t, step, HOUR_SECONDS))
        pipe.hset(hour, mapping={"step": step, index: sample.encode()})
        pipe.expire(hour, HOUR_SECONDS + KEEP_EXTRA)
        pipe.hset(day, str(slot(bucket.t, DAY_STEP, DAY_SECONDS)), bucket.encode())
        pipe.expire(day, DAY_SECONDS + KEEP_EXTRA)
    pipe.execute()


def check_range(range_: str) -> str:
    if range_ not in RANGES:
        raise InvalidInput("range", f"must be one of {', '.join(RANGES)}, not {range_!r}")
    return range_


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def read_series(
    redis: Any, app_id: int, range_: str = "hour", now: float | None = None
) -> dict[str, Any]:
    """The app's series for ``range_`` ("hour" or "day"; InvalidInput naming it otherwise):
    ``{"range", "step", "t": [...], "app": {"cpu": [...], "memory": [...]},
    "processes": {"group:name": {"cpu": [...], "memory": [...]}}}``, the day range with
    ``memory_max`` beside ``memory``; ``None`` where no sample was kept."""
    check_range(range_)
    raw = {_text(k): _text(v) for k, v in redis.hgetall(usage_key(app_id, range_)).items()}
    if range_ == "hour":
        step, span = int(raw.pop("step", DEFAULT_STEP)), HOUR_SECONDS
    else:
        step, span = DAY_STEP, DAY_SECONDS
    count = math.ceil(span / step)
    last = int((time.time() if now is None else now) // step * step)
    first = last - (count - 1) * step
    names = ["cpu", "memory", "memory_max"][: 3 if range_ == "day" else 2]

    def empty() -> dict[str, list[Any]]:
        return {name: [None] * count for name in names}

    app, processes = empty(), {}
    for text in raw.values():
        entry = json.loads(text)
        index, off = divmod(entry["t"] - first, step)
        if off or not 0 <= index < count:
            continue  # older than the range (a slot not overwritten yet) or another step
        for name, value in zip(names, _loaded(entry["a"]), strict=False):
            app[name][index] = value
        for process, point in entry["p"].items():
            series = processes.setdefault(process, empty())
            for name, value in zip(names, _loaded(point), strict=False):
                series[name][index] = value
    times = list(range(first, last + 1, step))
    return {
        "range": range_,
        "step": step,
        "t": times,
        "app": app,
        "processes": dict(sorted(processes.items())),
    }


# A transition into one of these is drawn on the graphs: a (re)start, an exit the
# runtime did not ask for, a program given up on.
MARK_STATES = frozenset({"STARTING", "EXITED", "BACKOFF", "FATAL"})


def restart_marks(history: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    """The transitions of ``history`` (``hosting.live_events.read_history``) at or after
    ``since`` that the graphs mark: ``{"time", "process", "from", "to", "reason"}``."""
    return [
        {key: entry.get(key) for key in ("time", "process", "from", "to", "reason")}
        for entry in history
        if entry.get("to") in MARK_STATES and float(entry.get("time") or 0) >= since
    ]


def usage_payload(redis: Any, app_id: int, range_: str) -> dict[str, Any]:
    """What the panel's usage.json and the API's usage route answer: the series and the
    restart marks of its range (InvalidInput naming a bad range)."""
    series = read_series(redis, app_id, range_)
    return {**series, "marks": restart_marks(read_history(redis, app_id), series["t"][0])}
