"""The retry schedule and the reconciler's queries, with an injected clock, on SQLite and
PostgreSQL (the ``session`` fixture). The reconciler itself, with Redis: tests/workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hosting import services
from hosting.job_records import AppBusy, record_job, start_job
from hosting.job_recovery import (
    RECHECK_SECONDS,
    RetryPolicy,
    attempt_failed,
    due_jobs,
    running_jobs,
    take_due,
)
from hosting.models import App, Job
from sqlalchemy.orm import Session

T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def test_the_schedule_after_each_failed_attempt() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 4
    assert [policy.next_attempt_at(n, T0) for n in (1, 2, 3, 4)] == [
        T0 + seconds(1),
        T0 + seconds(5),
        T0 + seconds(15),
        None,
    ]
    assert RetryPolicy((2.5,)).next_attempt_at(1, T0) == T0 + seconds(2.5)
    assert RetryPolicy(()).next_attempt_at(1, T0) is None  # one attempt only
    with pytest.raises(ValueError, match="attempts count from 1"):
        policy.next_attempt_at(0, T0)


@dataclass
class Apps:
    web: App  # on host h1 (queue "h1")
    other: App  # on host h2


@pytest.fixture
def apps(session: Session) -> Apps:
    tenant = services.create_tenant(session, "Acme")
    h1 = services.create_host(session, "h1", "/srv/h1", queue="h1")
    h2 = services.create_host(session, "h2", "/srv/h2", queue="h2")
    web = services.create_app(session, tenant, h1, "web", "python")
    other = services.create_app(session, tenant, h2, "other", "python")
    session.commit()
    return Apps(web, other)


def naive(value: datetime | None) -> datetime | None:
    """As SQLite gives it back (UTC, no tzinfo); PostgreSQL keeps the zone."""
    return None if value is None else value.replace(tzinfo=None)


def test_a_job_is_retried_on_schedule_then_fails_with_its_error(
    session: Session, apps: Apps
) -> None:
    job = record_job(session, "apply_services", app=apps.web)
    session.commit()
    assert [d.id for d in due_jobs(session, "h1", T0)] == [job.id]  # new: due at once
    now = T0
    for attempt, delay in ((1, 1), (2, 5), (3, 15)):
        assert start_job(session, job.id, runner="w") is job
        assert attempt_failed(session, job.id, "refused", runner="w", now=now) is job
        assert (job.status, job.attempts) == ("queued", attempt)
        assert job.error == f"attempt {attempt} failed, will retry in {delay}s: refused"
        assert naive(job.next_attempt_at) == naive(now + seconds(delay))
        # Not due before its time, due from then on.
        assert due_jobs(session, "h1", now + seconds(delay - 0.5)) == []
        assert [d.id for d in due_jobs(session, "h1", now + seconds(delay))] == [job.id]
        now += seconds(delay)
    assert start_job(session, job.id, runner="w") is job
    attempt_failed(session, job.id, "refused", runner="w", now=now)
    assert (job.status, job.attempts) == ("failed", 4)
    assert job.error == "refused (gave up after 4 attempts)"
    assert due_jobs(session, "h1", now + seconds(3600)) == []  # never queued for good


def test_only_the_runner_of_an_attempt_settles_it(session: Session, apps: Apps) -> None:
    job = record_job(session, "apply_services", app=apps.web)
    start_job(session, job.id, runner="w1", lease_seconds=60)
    assert attempt_failed(session, job.id, "x", runner="w2", now=T0) is None
    assert (job.status, job.runner) == ("running", "w1")
    session.commit()
    started = job.started_at
    assert started is not None
    lease_end = started + seconds(60)
    [seen] = running_jobs(session, "h1", lease_end - seconds(1))
    assert (seen.id, seen.runner, seen.lease_expired) == (job.id, "w1", False)
    [seen] = running_jobs(session, "h1", lease_end + seconds(1))
    assert seen.lease_expired
    assert running_jobs(session, "h2", lease_end + seconds(1)) == []


def test_two_reconcilers_never_both_take_a_due_job(session: Session, apps: Apps) -> None:
    job = record_job(session, "apply_services", app=apps.web)
    session.commit()
    [first] = due_jobs(session, "h1", T0)
    [second] = due_jobs(session, "h1", T0)  # what a second reconciler saw at the same time
    assert take_due(session, first.id, first.next_attempt_at, T0)
    assert not take_due(session, second.id, second.next_attempt_at, T0)
    # Redis gets it; it is looked at again only once RECHECK_SECONDS have passed.
    assert due_jobs(session, "h1", T0 + seconds(RECHECK_SECONDS / 2)) == []
    [again] = due_jobs(session, "h1", T0 + seconds(RECHECK_SECONDS))
    assert again.id == job.id
    start_job(session, job.id, runner="w")  # a worker claimed it: nobody takes it any more
    assert not take_due(session, again.id, again.next_attempt_at, T0 + seconds(10))


def test_each_host_sees_its_own_jobs_and_the_orphans(session: Session, apps: Apps) -> None:
    mine = record_job(session, "apply_services", app=apps.web)
    theirs = record_job(session, "apply_services", app=apps.other)
    orphan = record_job(session, "delete_app")  # its app is gone
    session.commit()
    assert {d.id for d in due_jobs(session, "h1", T0)} == {mine.id, orphan.id}
    assert {d.id for d in due_jobs(session, "h2", T0)} == {theirs.id, orphan.id}
    due = {d.id: d for d in due_jobs(session, "h1", T0)}
    assert (due[mine.id].kind, due[mine.id].app) == ("apply_services", "web")
    assert due[orphan.id].app is None
    assert session.get(Job, orphan.id) is not None


def test_one_running_job_per_app_even_without_redis(session: Session, apps: Apps) -> None:
    """The workers' app lock lives in Redis; the claim holds the rule when Redis lost it."""
    first = record_job(session, "apply_services", app=apps.web)
    second = record_job(session, "apply_services", app=apps.web)
    elsewhere = record_job(session, "apply_services", app=apps.other)
    start_job(session, first.id, runner="w1")
    with pytest.raises(AppBusy, match=f"job {first.id} is running on this app"):
        start_job(session, second.id, runner="w2")
    assert second.status == "queued" and second.attempts == 0
    assert start_job(session, elsewhere.id, runner="w3") is elsewhere  # another app
    attempt_failed(session, first.id, "refused", runner="w1", now=T0)  # its turn is over
    assert start_job(session, second.id, runner="w2") is second
