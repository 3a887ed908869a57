"""hosting.usage (the graphs' samples in a real Redis: ring slots, 5 minute averages, gaps,
expiry, size) and the routes that serve them: the panel's usage.json and the API's usage."""

from __future__ import annotations

import json
import time

import redis
from flask.testing import FlaskClient
from hosting.live_events import append_history
from hosting.usage import (
    DAY_SECONDS,
    HOUR_SECONDS,
    Bucket,
    Sample,
    bucket_start,
    downsample,
    read_series,
    usage_key,
    write_samples,
)

from tests.web.fixtures import AuthActions, World

NOW = 1_765_000_200.0  # a multiple of 10 s (and of 5 min): the grid ends here
MIB = 1024 * 1024


def store(client: redis.Redis, app_id: int, samples: list[Sample], step: int = 10) -> None:
    """Write ``samples`` round by round, as the sampler does (its bucket built up)."""
    buckets: dict[int, Bucket] = {}
    for sample in samples:
        bucket = buckets.setdefault(bucket_start(sample.t), Bucket(bucket_start(sample.t)))
        bucket.add(sample)
        write_samples(client, {app_id: (sample, bucket.sample())}, step)


def test_downsample_averages_each_bucket_and_keeps_the_memory_maximum() -> None:
    start = int(NOW)
    samples = [
        Sample(start, [10.0, 100.0], {"web:web": [5.0, 50.0]}),
        Sample(start + 10, [30.0, 300.0], {"web:web": [None, 70.0]}),
        Sample(start + 20, [None, None], {}),  # a round that measured nothing
        Sample(start + 300, [50.0, 500.0], {"web:web": [1.0, 10.0]}),
    ]
    first, second = downsample(samples)
    assert (first.t, first.app) == (start, [20.0, 200, 300])
    assert first.processes == {"web:web": [5.0, 60, 70]}
    assert (second.t, second.app, second.processes) == (
        start + 300,
        [50.0, 500, 500],
        {"web:web": [1.0, 10, 10]},
    )


def test_the_hour_has_a_point_per_step_with_gaps_as_none(redis_client: redis.Redis) -> None:
    start = int(NOW) - 50
    samples = [
        Sample(t, [12.345, 40 * MIB + 0.7], {"web:web": [12.0, 30 * MIB]})
        for t in (start, start + 10, start + 40, start + 50)  # nothing at +20 and +30
    ]
    store(redis_client, 3, samples)
    series = read_series(redis_client, 3, "hour", now=NOW + 5)
    assert series["range"] == "hour" and series["step"] == 10
    assert len(series["t"]) == 360 and series["t"][-1] == int(NOW)
    assert series["t"][-1] - series["t"][0] == HOUR_SECONDS - 10
    assert series["app"]["cpu"][-6:] == [12.3, 12.3, None, None, 12.3, 12.3]
    assert series["app"]["memory"][-1] == 40 * MIB  # whole bytes
    assert series["app"]["cpu"][:-6] == [None] * 354
    assert series["processes"]["web:web"]["memory"][-3] is None
    assert "memory_max" not in series["app"]


def test_the_ring_overwrites_the_hour_before(redis_client: redis.Redis) -> None:
    old = int(NOW) - HOUR_SECONDS  # the same slot as NOW, an hour earlier
    store(redis_client, 3, [Sample(old, [99.0, 1.0], {"old:old": [1.0, 1.0]})])
    assert read_series(redis_client, 3, "hour", now=NOW)["app"]["cpu"][-1] is None
    store(redis_client, 3, [Sample(int(NOW), [1.0, 2.0], {})])
    assert redis_client.hlen(usage_key(3, "hour")) == 2  # the step and one slot
    series = read_series(redis_client, 3, "hour", now=NOW)
    assert series["app"]["cpu"][-1] == 1.0
    # A program seen only in the other hour is not in this one's series.
    assert series["processes"] == {}


def test_the_day_has_5_minute_averages_of_the_rounds(redis_client: redis.Redis) -> None:
    start = int(NOW) - 600
    samples = [Sample(start + i * 10, [float(i), float(i * MIB)], {}) for i in range(60)]
    store(redis_client, 4, samples)
    day = read_series(redis_client, 4, "day", now=NOW)
    assert (day["step"], len(day["t"])) == (300, 288)
    assert day["t"][-1] - day["t"][0] == DAY_SECONDS - 300
    # The buckets at -600 (rounds 0..29) and -300 (rounds 30..59); the current one is empty.
    assert day["app"]["cpu"][-3:] == [14.5, 44.5, None]
    assert day["app"]["memory_max"][-3:-1] == [29 * MIB, 59 * MIB]


def test_keys_expire_after_their_range_and_stay_small(redis_client: redis.Redis) -> None:
    processes = {f"group-{n}:program-{n}": [12.3, 123_456_789.0] for n in range(3)}
    # A full hour and a full day for one app with three programs.
    for t in range(int(NOW) - DAY_SECONDS + 300, int(NOW) + 1, 300):
        store(redis_client, 5, [Sample(t, [12.3, 234_567_890.0], processes)])
    for t in range(int(NOW) - HOUR_SECONDS + 10, int(NOW) + 1, 10):
        store(redis_client, 5, [Sample(t, [12.3, 234_567_890.0], processes)])
    assert (
        redis_client.hlen(usage_key(5, "hour")) == 361
        and redis_client.hlen(usage_key(5, "day")) == 288
    )
    assert HOUR_SECONDS < redis_client.ttl(usage_key(5, "hour")) <= HOUR_SECONDS + 600
    assert DAY_SECONDS < redis_client.ttl(usage_key(5, "day")) <= DAY_SECONDS + 600
    size = sum(redis_client.memory_usage(usage_key(5, r)) for r in ("hour", "day"))
    print(f"one app with 3 programs keeps {size / 1024:.1f} KiB")
    assert size < 200 * 1024


def test_the_panel_serves_the_series_and_the_restart_marks(
    client: FlaskClient, auth: AuthActions, world: World, redis_client: redis.Redis
) -> None:
    auth.login()
    data = client.get(f"/apps/{world.shop_id}/usage.json").json
    assert data["range"] == "hour" and data["app"]["cpu"] == [None] * 360
    assert data["processes"] == {} and data["marks"] == []
    now = int(time.time() // 10 * 10)
    store(
        redis_client,
        world.shop_id,
        [Sample(now, [25.0, 64.0 * MIB], {"app:app": [20.0, 60.0 * MIB]})],
    )
    entry = {
        "process": "app:app",
        "time": now - 30,
        "from": "RUNNING",
        "to": "EXITED",
        "reason": "exit",
        "description": "exit status 1",
        "pid": 42,
        "log_tail": "Traceback...",
    }
    running = {**entry, "from": "STARTING", "to": "RUNNING", "reason": "started", "time": now - 25}
    too_old = {**entry, "time": now - 2 * HOUR_SECONDS}
    append_history(redis_client, world.shop_id, [too_old, entry, running])
    data = client.get(f"/apps/{world.shop_id}/usage.json?range=hour").json
    index = data["t"].index(now)
    assert data["processes"]["app:app"]["cpu"][index] == 20.0
    assert data["app"]["memory"][index] == 64 * MIB
    assert data["marks"] == [
        {
            "time": now - 30,
            "process": "app:app",
            "from": "RUNNING",
            "to": "EXITED",
            "reason": "exit",
        }
    ]
    day = client.get(f"/apps/{world.shop_id}/usage.json?range=day").json
    assert day["range"] == "day" and len(day["marks"]) == 2  # the older exit is in the day
    bad = client.get(f"/apps/{world.shop_id}/usage.json?range=week")
    assert bad.status_code == 400
    assert bad.json["error"] == {
        "field": "range",
        "message": "must be one of hour, day, not 'week'",
    }
    assert client.get(f"/apps/{world.blog_id}/usage.json").status_code == 404


def test_the_api_serves_the_same(
    client: FlaskClient, world: World, redis_client: redis.Redis
) -> None:
    headers = {"Authorization": f"Bearer {world.alice_token}"}
    store(redis_client, world.shop_id, [Sample(int(NOW), [1.0, 2.0], {})])
    data = client.get(f"/api/v1/apps/{world.shop_id}/usage?range=day", headers=headers).json
    assert data["range"] == "day" and set(data) == {
        "range",
        "step",
        "t",
        "app",
        "processes",
        "marks",
    }
    bad = client.get(f"/api/v1/apps/{world.shop_id}/usage?range=", headers=headers)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "range"
    assert (
        "'week'"
        in client.get(f"/api/v1/apps/{world.shop_id}/usage?range=week", headers=headers).json[
            "error"
        ]["message"]
    )
    other = {"Authorization": f"Bearer {world.bob_token}"}
    assert client.get(f"/api/v1/apps/{world.shop_id}/usage", headers=other).status_code == 404
    assert client.get(f"/api/v1/apps/{world.shop_id}/usage").status_code == 401
    assert json.loads(client.get("/api/v1/openapi.json").data)["paths"]["/apps/{app_id}/usage"]
