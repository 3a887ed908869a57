"""What the customer asked for beside what is: each service's desired and actual state.

The database records what was asked (``Service.enabled``, its settings); the status poller's
record in Redis (``hosting.status``) says what the app's runtime runs. Between the two sits
the last apply job (``create_app`` or ``apply_services``): while it is queued or running the
difference is expected; when it failed, the difference stays until someone fixes the cause
and retries (``hosting.commands.retry_job``). Pages and the API show all three, so a failed
apply never leaves a false "disabled" or "enabled" on its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hosting.commands import job_title, service_label
from hosting.models import App, Job, Service

APPLY_KINDS = ("create_app", "apply_services")
ABSENT = "not running"  # the runtime has no such program (never added, or removed)
UNKNOWN = "unknown"  # no status from the host (poller away, runtime down)


@dataclass(frozen=True)
class ServiceState:
    name: str
    kind: str
    label: str  # how people call it: "Redis", "program worker", "app"
    desired: str  # "enabled" | "disabled"
    actual: str  # "running", "stopped", "fatal", ..., ABSENT or UNKNOWN
    differs: bool  # the runtime does not (yet) run what was asked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ApplyState:
    """The app's last apply job: "pending" (queued, running), "failed" or "done"."""

    state: str
    job_id: str
    title: str
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "job": self.job_id, "title": self.title, "error": self.error}


def actual_state(status: dict[str, Any] | None, group: str) -> str:
    """What the runtime reports for the processes of ``group``, in one word or two."""
    if status is None or status.get("runtime") != "up":
        return UNKNOWN
    states = {
        str(p.get("statename") or "UNKNOWN").lower()
        for p in status.get("processes", [])
        if (p.get("group") or p.get("name")) == group
    }
    if not states:
        return ABSENT
    return states.pop() if len(states) == 1 else "partly " + "/".join(sorted(states))


def _differs(enabled: bool, actual: str) -> bool:
    if actual == UNKNOWN:
        return False  # nothing to compare with: the page says the status is missing
    if not enabled:
        return actual != ABSENT
    # Stopped by someone's Stop is what they asked for; absent or failing is not.
    return actual == ABSENT or actual in ("fatal", "backoff") or actual.startswith("partly")


def service_state(service: Service, status: dict[str, Any] | None) -> ServiceState:
    actual = actual_state(status, service.name)
    return ServiceState(
        name=service.name,
        kind=service.kind,
        label=service_label(service),
        desired="enabled" if service.enabled else "disabled",
        actual=actual,
        differs=_differs(service.enabled, actual),
    )


def last_apply(session: Session, app: App) -> ApplyState | None:
    """The app's newest apply job, or None when it never had one."""
    job = session.scalars(
        select(Job)
        .where(Job.app_id == app.id, Job.kind.in_(APPLY_KINDS))
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()
    if job is None:
        return None
    state = job.status if job.finished else "pending"
    return ApplyState(state, job.id, job_title(job), job.error if job.status == "failed" else None)


def summary(service: ServiceState, apply: ApplyState | None) -> str:
    """ "Memcached: wanted disabled, running; last apply failed: <error>"."""
    text = f"{service.label[:1].upper()}{service.label[1:]}: wanted {service.desired}"
    text += f", {service.actual}"
    if apply is not None and apply.state == "failed":
        first_line = (apply.error or "").strip().splitlines()[:1]
        text += f"; last apply failed: {first_line[0] if first_line else 'no reason given'}"
    elif apply is not None and apply.state == "pending":
        text += "; being applied"
    return text


def app_states(
    session: Session, app: App, status: dict[str, Any] | None
) -> tuple[list[ServiceState], ApplyState | None]:
    """Every service of ``app`` (desired beside actual) and its last apply."""
    return [service_state(s, status) for s in app.services], last_apply(session, app)
