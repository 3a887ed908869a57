"""wait_for_job: the one way hostingctl and the launcher follow a job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hosting import db
from hosting.job_records import finish_job, record_job, start_job, wait_for_job
from hosting.models import Job
from sqlalchemy.orm import Session, sessionmaker

from tests.hosting.fixtures import migrated_sqlite


@pytest.fixture
def sessions(sqlite_template: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(migrated_sqlite(sqlite_template, tmp_path))
    yield db.make_session_factory(engine)
    engine.dispose()


def queued_job(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        job = record_job(session, "apply_services", actor="test")
        session.commit()
        return job.id


def test_reports_each_change_and_returns_the_finished_job(
    sessions: sessionmaker[Session],
) -> None:
    job_id = queued_job(sessions)
    with sessions() as session:
        start_job(session, job_id)
        session.commit()
    seen: list[tuple[str, int]] = []

    def on_change(job: Job) -> None:
        seen.append((job.status, job.attempts))
        if job.status == "running":  # the worker finishes it while we watch
            with sessions() as session:
                finish_job(session, job_id, result={"ok": True})
                session.commit()

    job = wait_for_job(sessions, job_id, timeout=10, on_change=on_change, poll_seconds=0.01)
    assert (job.finished, job.status, job.result) == (True, "done", {"ok": True})
    assert seen == [("running", 1), ("done", 1)]


def test_a_retry_reason_is_a_change_of_its_own(sessions: sessionmaker[Session]) -> None:
    job_id = queued_job(sessions)
    with sessions() as session:
        session.get(Job, job_id).error = "attempt 1 failed, will retry: refused"
        session.commit()
    seen: list[str | None] = []
    job = wait_for_job(
        sessions, job_id, timeout=0.05, on_change=lambda j: seen.append(j.error), poll_seconds=0.01
    )
    assert not job.finished and job.status == "queued"
    assert seen == ["attempt 1 failed, will retry: refused"]


def test_gives_up_at_the_deadline_or_when_cancelled(sessions: sessionmaker[Session]) -> None:
    job_id = queued_job(sessions)
    seen: list[Job] = []
    job = wait_for_job(sessions, job_id, timeout=0.05, on_change=seen.append, poll_seconds=0.01)
    assert (job.status, job.finished, seen) == ("queued", False, [])
    job = wait_for_job(sessions, job_id, timeout=60, cancelled=lambda: True)
    assert not job.finished
