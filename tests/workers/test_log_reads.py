"""Log reads end to end, without Jobs: the panel's way (``hosting.log_reads``) answered by a
real worker of the host runtime, through the app's peer-checked runtime."""

from __future__ import annotations

import statistics
import time

import pytest
from hosting.log_reads import LogUnavailable, request_log
from hosting.models import Job

from tests.workers.fixtures import Platform, wait_until
from tests.workers.test_job_handlers import STUBBORN, add_service, http_answers
from workers.locks import lock_key

pytestmark = pytest.mark.timeout(120)


def job_count(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.query(Job).count()


def rq_job_keys(platform: Platform) -> set[bytes]:
    return set(platform.redis.keys("rq:job:*"))


def test_a_log_read_is_answered_by_a_worker_and_leaves_nothing(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: http_answers(platform, app_id, port), 10, "the app to answer HTTP")
    jobs, keys = job_count(platform), rq_job_keys(platform)

    text = platform.read_log(app_id, "app", "stdout", 4000)
    assert '"GET / HTTP/1.1" 200' in text and len(text) <= 4000
    assert job_count(platform) == jobs  # no Job, no audit record
    assert rq_job_keys(platform) == keys  # the request and its answer are gone once read

    # What the runtime refuses comes back as the reason, not as a hang or a traceback.
    with pytest.raises(LogUnavailable, match="no such program: nosuch"):
        platform.read_log(app_id, "nosuch")
    with pytest.raises(LogUnavailable, match="app 9999 does not exist"):
        request_log(platform.redis, platform.hosts["h1"].queue, 9999, "app")

    # Following live: reads one after another, as the page does every poll.
    timings = []
    for _ in range(10):
        started = time.monotonic()
        platform.read_log(app_id, "app", "stdout", 16 * 1024)
        timings.append(time.monotonic() - started)
    median, worst = statistics.median(timings) * 1000, max(timings) * 1000
    print(f"log read: median {median:.1f} ms, max {worst:.1f} ms")
    assert job_count(platform) == jobs


def test_a_read_is_not_held_up_by_a_job_on_the_same_app(platform: Platform) -> None:
    """A read takes no app lock: the log of an app whose restart takes seconds is readable
    while it restarts (the host runs two workers)."""
    platform.add_host("h1", workers=2)
    app_id, _port = platform.create_app()
    add_service(platform, app_id, "custom", "stubborn", {"command": STUBBORN, "stopwaitsecs": 3})
    platform.run("create_app", app_id)
    job_id = platform.enqueue("program_action", app_id, action="restart", program="stubborn")
    wait_until(lambda: platform.redis.get(lock_key(app_id)), 10, "the job to hold the app's lock")
    started = time.monotonic()
    platform.read_log(app_id, "app")
    took = time.monotonic() - started
    assert platform.job(job_id).status == "running", "the read waited for the job"
    assert took < 2.5, took
    assert platform.wait_job(job_id).status == "done"
