"""The per-app lock: two jobs never work on one app at the same time.

A Redis key ``hosting:lock:app:<id>`` set with NX and an expiry, holding who took it
(``<hostname>:<pid>:<start time>:<job id>:<random>``, see ``workers.liveness``); released
only by its holder (compare and delete). Waiting is blocking with a deadline: a release
pushes a token on ``<key>:released``, on which a waiter blocks (BLPOP) between its tries, so
the next job of an app starts as soon as the last one let go (a restart clicked again right
after the first; polling every 50 ms made it wait 50 ms at the median). A holder
killed with SIGKILL cannot release its lock, and its job is retried (``workers.reconciler``):
so a waiter on the same machine whose holder's process no longer exists takes the lock over
instead of waiting for the expiry.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from workers.liveness import is_gone, process_token

KEY_PREFIX = "hosting:lock:app:"
POLL_SECONDS = 0.05  # the longest wait between tries: a holder that died releases nothing

# Delete our lock and leave one token for a waiter (kept as long as a lock would be).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1], KEYS[2])
  redis.call('rpush', KEYS[2], '1')
  redis.call('pexpire', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
"""


class LockTimeout(Exception):
    """The lock stayed held by another job for longer than we were willing to wait."""


def lock_key(app_id: int) -> str:
    return f"{KEY_PREFIX}{app_id}"


def released_key(app_id: int) -> str:
    return f"{lock_key(app_id)}:released"


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class AppLock:
    """``with AppLock(redis, app_id, job_id, timeout=…, wait=…):`` holds the app's lock.
    ``poll``: the longest wait between two tries when no release wakes the waiter."""

    def __init__(
        self,
        redis: Any,
        app_id: int,
        owner: str,
        *,
        timeout: float,
        wait: float,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.redis = redis
        self.poll = poll
        self.key = lock_key(app_id)
        self.released = released_key(app_id)
        self.timeout_ms = int(timeout * 1000)
        self.wait = wait
        self.token = f"{process_token()}:{owner}:{secrets.token_hex(4)}"
        self.held = False

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            if self.redis.set(self.key, self.token, nx=True, px=self.timeout_ms):
                self.held = True
                return
            holder = _text(self.redis.get(self.key))
            if holder is not None and is_gone(holder):
                took = self.redis.eval(_TAKE_OVER, 1, self.key, holder, self.token, self.timeout_ms)
                if took:
                    self.held = True
                    return
            if time.monotonic() > deadline:
                raise LockTimeout(f"{self.key} is held by {holder} for more than {self.wait:g}s")
            self.redis.blpop([self.released], timeout=self.poll)

    def release(self) -> None:
        if self.held:
            self.redis.eval(_RELEASE, 2, self.key, self.released, self.token, self.timeout_ms)
            self.held = False

    def __enter__(self) -> AppLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
