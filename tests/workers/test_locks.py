"""The per-app lock hands over at once: a waiter wakes on the holder's release, not on its
next look (real redis-server)."""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from workers.locks import AppLock, lock_key

pytestmark = pytest.mark.timeout(60)
# Far longer than the handover may take: without the wake-up, the waiter would sleep on.
SLOW_POLL = 30.0


def waiter(redis: Redis, app_id: int, taken: threading.Event) -> threading.Thread:
    def take() -> None:
        AppLock(redis, app_id, "waiter", timeout=60, wait=60, poll=SLOW_POLL).acquire()
        taken.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


def test_a_waiter_takes_the_lock_as_soon_as_it_is_released(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    first = AppLock(redis, 7, "first", timeout=60, wait=1)
    first.acquire()
    taken = threading.Event()
    thread = waiter(redis, 7, taken)
    assert not taken.wait(0.3), "taken while the first job held it"
    released = time.monotonic()
    first.release()
    assert taken.wait(10), "the waiter slept on after the release"
    assert time.monotonic() - released < SLOW_POLL
    thread.join(5)
    assert redis.get(lock_key(7)).decode().split(":")[3] == "waiter"
    redis.close()


def test_a_release_nobody_waited_for_does_not_let_a_later_waiter_in(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    with AppLock(redis, 8, "early", timeout=60, wait=1):
        pass  # its release leaves a token behind: nobody waited
    holder = AppLock(redis, 8, "holder", timeout=60, wait=1)
    holder.acquire()
    taken = threading.Event()
    waiter(redis, 8, taken)
    assert not taken.wait(0.5), "the old token let the waiter in while the lock was held"
    holder.release()
    assert taken.wait(10), "the waiter slept on after the release"
    redis.close()
