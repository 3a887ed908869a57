"""``/healthz`` (liveness: the panel's process answers) and ``/readyz`` (readiness: the
database, Redis and the workers answer; ``hosting.health``). Both need no login, so load
balancers and a rollout's health gate can probe them; they say which part is down, never a
secret or a tenant's name."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from hosting.health import readiness

from admin_web.extensions import get_redis, get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    state = readiness(get_session(), get_redis())
    response = jsonify(status="ready" if state.ready else "not ready", checks=state.checks)
    response.status_code = 200 if state.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
