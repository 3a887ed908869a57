"""A job event is only a hint: with Redis away the job goes on (workers.job_handlers)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis import Redis

from workers.job_handlers import Context, _announce


def test_redis_away_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gone = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), socket_connect_timeout=1)
    context = Context(host=None, redis=gone, sessions=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="workers.job_handlers"):
        _announce(context, 7)
    assert "app 7: job event not published" in caplog.text
    _announce(context, None)  # a deleted app's job: nothing to tell
