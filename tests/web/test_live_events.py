"""hosting.live_events against a real redis-server: the channel messages and the kept history."""

from __future__ import annotations

import pytest
import redis
from hosting import live_events


def test_published_event_reaches_a_subscriber(redis_client: redis.Redis) -> None:
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live_events.app_channel(7))
    live_events.publish_app_event(redis_client, 7, "status")
    message = None
    for _ in range(50):  # get_message waits up to its timeout for each
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            break
    assert message is not None, "no message on the app's channel"
    event = live_events.parse_event(message["data"])
    assert (event["app"], event["kind"]) == (7, "status")
    pubsub.close()


def test_unknown_kind_is_refused_naming_it(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="'restarts'"):
        live_events.publish_app_event(redis_client, 7, "restarts")
    with pytest.raises(ValueError, match="not an app event"):
        live_events.parse_event(b'{"kind": "other"}')


def test_history_keeps_the_last_entries_oldest_first(redis_client: redis.Redis) -> None:
    total = live_events.HISTORY_KEEP + 5
    entries = [{"process": "app:app", "time": float(i), "to": "RUNNING"} for i in range(total)]
    assert live_events.append_history(redis_client, 3, entries[:10]) == 10
    assert live_events.append_history(redis_client, 3, entries[10:]) == total - 10
    assert live_events.append_history(redis_client, 3, []) == 0
    kept = live_events.read_history(redis_client, 3)
    assert [e["time"] for e in kept] == [float(i) for i in range(5, total)]
    assert [e["time"] for e in live_events.read_history(redis_client, 3, limit=2)] == [
        float(total - 2),
        float(total - 1),
    ]
    live_events.forget_app(redis_client, 3)
    assert live_events.read_history(redis_client, 3) == []
