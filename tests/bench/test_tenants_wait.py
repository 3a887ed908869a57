"""bench.tenants' wait for a cold start (``BenchHost.all_running_since``), on a real Redis:
it reads only the apps not yet seen RUNNING, and still answers about one moment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
from hosting.status import status_key, write_app_status

from bench.tenants import BenchHost
from tests.web.redis_server import start_redis

RUNNING = [{"group": g, "name": g, "statename": "RUNNING", "pid": 10} for g in ("app", "memcached")]
STARTING = [dict(RUNNING[0], statename="STARTING"), RUNNING[1]]


@pytest.fixture
def host() -> Iterator[BenchHost]:
    server = start_redis()
    bench = BenchHost("ours", None, 1)
    client = server.client()
    # Only the bench's Redis and its app ids are used by the wait.
    bench.platform = SimpleNamespace(redis=client)  # type: ignore[assignment]
    bench.app_ids = [1, 2, 3]
    try:
        yield bench
    finally:
        client.close()
        server.stop()
        bench.base.rmdir()


def keys_read(client: redis.Redis, call: object) -> list[str]:
    """The status keys that ``call()`` read from Redis (MONITOR)."""
    read: list[str] = []
    with client.monitor() as monitor:
        call()  # type: ignore[operator]
        client.set("end-of-watch", 1)
        for command in monitor.listen():
            words = command["command"].split()
            if words[0] == "SET":
                return read
            if words[0] == "MGET":
                read += words[1:]
    return read


def half_started(host: BenchHost) -> tuple[float, set[int]]:
    """Apps 1 and 2 RUNNING, 3 STARTING, all written after the start; a first wait's poll
    made: (the start's time, the apps seen RUNNING)."""
    since = time.time()
    for app_id in (1, 2):
        write_app_status(host.p.redis, app_id, RUNNING)
    write_app_status(host.p.redis, 3, STARTING)
    seen: set[int] = set()
    assert not host.all_running_since(since, seen)
    assert seen == {1, 2}
    return since, seen


def test_only_the_apps_not_yet_running_are_read_again(host: BenchHost) -> None:
    client = host.p.redis
    since, seen = half_started(host)
    read = keys_read(client, lambda: host.all_running_since(since, seen))
    assert read == [status_key(3)]
    write_app_status(client, 3, RUNNING)
    assert host.all_running_since(since, seen)


def test_an_app_seen_running_then_down_is_not_counted(host: BenchHost) -> None:
    """The end is still one moment where every app is RUNNING: all are read again then."""
    client = host.p.redis
    since, seen = half_started(host)
    write_app_status(client, 1, STARTING)  # seen RUNNING, now not
    write_app_status(client, 3, RUNNING)
    assert not host.all_running_since(since, seen)
    assert seen == {2, 3}
    write_app_status(client, 1, RUNNING)
    assert host.all_running_since(since, seen)


def test_a_status_from_before_the_start_does_not_count(host: BenchHost) -> None:
    client = host.p.redis
    for app_id in (1, 2, 3):
        write_app_status(client, app_id, RUNNING)
    since = time.time() + 1  # the statuses were written before the start
    assert not host.all_running_since(since)
    assert not host.all_running_since(since, set())
