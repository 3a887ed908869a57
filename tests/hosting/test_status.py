"""hosting.status against a real Redis: a status the feeder writes (with its host's queue,
kept long) counts only while that host's own status lives; the poller's (short TTL, no
host) counts as long as it exists. Either way a stopped writer leaves no status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hosting.status import (
    host_key,
    read_app_status,
    read_app_statuses,
    write_app_status,
    write_host_status,
)

from tests.web.redis_server import start_redis

PROCESS = {"name": "app", "group": "app", "statename": "RUNNING", "pid": 7}


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    server = start_redis()
    client = server.client()
    yield client
    client.close()
    server.stop()


def test_a_feeder_status_counts_while_its_host_does(client: redis.Redis) -> None:
    write_host_status(client, "q1", True, None, ttl=30)
    write_app_status(client, 1, [PROCESS], ttl=86400, host="q1")
    write_app_status(client, 2, [PROCESS], ttl=86400, host="q2")  # q2 wrote no host status
    write_app_status(client, 3, [PROCESS], ttl=30)  # the poller's
    status = read_app_status(client, 1)
    assert status is not None and status["processes"][0]["pid"] == 7
    assert read_app_status(client, 2) is None
    assert read_app_statuses(client, [1, 2, 3, 4]).keys() == {1, 2, 3, 4}
    assert [s is not None for s in read_app_statuses(client, [1, 2, 3, 4]).values()] == [
        True,
        False,
        True,
        False,
    ]
    client.delete(host_key("q1"))  # the host's status expired: its feeder stopped
    assert read_app_status(client, 1) is None
    assert read_app_status(client, 3) is not None  # the poller's keys have their own TTL
    assert client.ttl("hosting:status:1") > 3600  # kept long: no refresh round per app
    write_host_status(client, "q1", True, None, ttl=30)  # a feeder runs again
    assert read_app_status(client, 1) is not None
