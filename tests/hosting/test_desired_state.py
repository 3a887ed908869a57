"""Desired beside actual: what the database asked for, what the runtime reports, and the
app's last apply between them (a small unit: status records are plain dicts here, as the
poller writes them; the end-to-end proof is tests/workers/test_desired_actual.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hosting import services
from hosting.desired_state import ABSENT, UNKNOWN, actual_state, app_states, summary
from hosting.job_records import finish_job, record_job
from hosting.models import App
from sqlalchemy.orm import Session


def status(*processes: tuple[str, str, str], runtime: str = "up") -> dict[str, Any]:
    """A status record: (group, name, statename) per process."""
    return {
        "runtime": runtime,
        "processes": [{"group": g, "name": n, "statename": s} for g, n, s in processes],
    }


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, UNKNOWN),
        (status(("memcached", "memcached", "RUNNING"), runtime="down"), UNKNOWN),
        (status(("app", "app", "RUNNING")), ABSENT),
        (status(("memcached", "memcached", "RUNNING")), "running"),
        (status(("w", "w_00", "RUNNING"), ("w", "w_01", "RUNNING")), "running"),
        (status(("w", "w_00", "RUNNING"), ("w", "w_01", "FATAL")), "partly fatal/running"),
    ],
)
def test_actual_state_of_a_group(record: dict[str, Any] | None, expected: str) -> None:
    group = "w" if record and record["processes"][0]["group"] == "w" else "memcached"
    assert actual_state(record, group) == expected


@pytest.fixture
def shop(session: Session, fast_passwords: None) -> App:
    tenant = services.create_tenant(session, "Acme")
    host = services.create_host(session, "h1", "/srv/h1")
    app = services.create_app(session, tenant, host, "shop", "python")
    session.commit()
    return app


def test_a_failed_disable_says_wanted_disabled_running(session: Session, shop: App) -> None:
    """The issue's case: memcached disabled in the database, still running, apply failed."""
    memcached = services.add_service(session, shop, "memcached")
    job = record_job(session, "apply_services", app=shop, title="Enable Memcached")
    finish_job(session, job.id, result={})
    running = status(("app", "app", "RUNNING"), ("memcached", "memcached", "RUNNING"))
    states, apply = app_states(session, shop, running)
    assert [(s.name, s.desired, s.actual, s.differs) for s in states] == [
        ("app", "enabled", "running", False),
        ("memcached", "enabled", "running", False),
    ]
    assert apply is not None and apply.state == "done"

    services.disable_service(session, memcached)
    job = record_job(session, "apply_services", app=shop, title="Disable Memcached")
    states, apply = app_states(session, shop, running)
    assert apply is not None and (apply.state, apply.title) == ("pending", "Disable Memcached")
    assert summary(states[1], apply) == "Memcached: wanted disabled, running; being applied"

    finish_job(session, job.id, error="conf/supervisor.d/mine.conf: bad value\nmore lines")
    states, apply = app_states(session, shop, running)
    assert states[1].differs and apply is not None and apply.job_id == job.id
    assert summary(states[1], apply) == (
        "Memcached: wanted disabled, running; last apply failed: conf/supervisor.d/mine.conf:"
        " bad value"
    )

    # Gone from the runtime: what was asked is what is, whatever the last apply said.
    gone = status(("app", "app", "RUNNING"))
    states, _apply = app_states(session, shop, gone)
    assert (states[1].actual, states[1].differs) == (ABSENT, False)


def test_enabled_but_absent_or_failing_differs_stopped_does_not(
    session: Session, shop: App
) -> None:
    worker = services.add_service(session, shop, "custom", "worker", {"command": "w"})
    for statename, differs in (("FATAL", True), ("BACKOFF", True), ("STOPPED", False)):
        record = status(("worker", "worker", statename))
        states, _apply = app_states(session, shop, record)
        assert states[-1].differs is differs, statename
    states, _apply = app_states(session, shop, status(("app", "app", "RUNNING")))
    assert (states[-1].actual, states[-1].differs, states[-1].label) == (
        ABSENT,
        True,
        "program worker",
    )
    assert worker.enabled
    # No status from the host: nothing to compare with, so nothing is claimed.
    states, _apply = app_states(session, shop, None)
    assert all(s.actual == UNKNOWN and not s.differs for s in states)
