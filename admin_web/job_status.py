"""Job status as JSON for the pages' live updates (session-authenticated; the API has its
own token-authenticated twin). The blueprint keeps the name ``jobs`` (``jobs.show``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify
from flask_login import login_required
from hosting import services
from hosting.models import Job, User
from sqlalchemy.orm import Session

from admin_web.extensions import get_session, me
from admin_web.presenters import job_dict

bp = Blueprint("jobs", __name__)


def job_for(session: Session, user: User, job_id: str) -> Job | None:
    """The job if ``user`` may see it: admins all; others the jobs of apps they reach, and
    their own jobs whose app is gone (a deleted app's last job)."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    if user.is_admin:
        return job
    if job.app is not None:
        return job if services.can_access(session, user, job.app) else None
    return job if job.user_id == user.id else None


@bp.get("/jobs/<job_id>.json")
@login_required
def show(job_id: str) -> Any:
    job = job_for(get_session(), me(), job_id)
    if job is None:
        abort(404)
    return jsonify(job=job_dict(job))
