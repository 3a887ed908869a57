"""A job event is only a hint: with Redis away the job goes on (workers.job_handlers)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis import Redis

from workers.job_handlers import Context, _announce


def test_redis_away_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gone = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), socket_connect_timeout=1)
    context = Context(host=None, redis=gone, sessions=None, reads=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="workers.job_handlers"):
        _announce(context, 7)
    assert "app 7: job event not published" in caplog.text
    _announce(context, None)  # a deleted app's job: nothing to tell


def test_the_poller_publishes_only_what_a_page_would_show_differently() -> None:
    from workers.status import _shown

    running = {"name": "app", "statename": "RUNNING", "pid": 7, "now": 100, "description": "up 1s"}
    status = {"updated": 1.0, "runtime": "up", "processes": [running]}
    later = {**status, "updated": 3.0, "processes": [{**running, "now": 102, "description": "2s"}]}
    assert _shown(status) == _shown(later)  # the time went by: no event
    restarted = {**status, "processes": [{**running, "pid": 8}]}
    assert _shown(status) != _shown(restarted)
    assert _shown(status) != _shown({**status, "runtime": "down"})
    assert _shown(None) != _shown(status)
