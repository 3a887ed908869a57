"""The JSON API, /api/v1. Authenticated only by ``Authorization: Bearer <token>`` (tokens
from the "API tokens" page): a session cookie never authenticates here, which is also why
the blueprint can be exempt from CSRF. Same rules as the pages: another tenant's app is 404.

Errors are ``{"error": {"message": ..., "field": ...}}`` with the HTTP status saying what
kind (400 bad input, 401 no valid token, 404 not found or not yours, 413 too large).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from hosting import commands, services, tokens
from hosting.catalog import describe_kinds
from hosting.commands import Actor
from hosting.errors import InvalidInput, NotFound
from hosting.job_records import jobs_visible_to
from hosting.models import App, User

from admin_web.extensions import get_redis, get_session
from admin_web.job_status import job_for
from admin_web.openapi import openapi_document
from admin_web.presenters import app_dict, job_dict, service_dict, status_payload

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Any:
    response = jsonify(error={"message": error.message, "field": error.field})
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.errorhandler(InvalidInput)
def _invalid(error: InvalidInput) -> Any:
    get_session().rollback()
    return _api_error(ApiError(400, error.message, error.field))


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Any:
    get_session().rollback()
    return _api_error(ApiError(404, str(error)))


def token_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise ApiError(401, "send Authorization: Bearer <token> (made on the tokens page)")
        session = get_session()
        user = tokens.verify_token(session, credentials.strip())
        if user is None:
            session.rollback()
            raise ApiError(401, "the token is not valid (wrong, revoked, or its user is inactive)")
        session.commit()  # the token's last use
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def api_user() -> User:
    return g.api_user


def acting() -> Actor:
    """The token's user as the commands' actor (scoped to their tenants)."""
    return Actor.for_user(api_user())


def _app(app_id: int) -> App:
    return services.get_app_for(get_session(), api_user(), app_id)


def _body() -> dict[str, Any]:
    raw = request.get_data()
    if not raw:
        return {}
    try:
        data = current_app.json.loads(raw)
    except ValueError as exc:  # bad UTF-8 or syntax, too deep (admin_web.limits), ...
        raise ApiError(400, f"the body is not valid JSON: {exc}", "body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    return data


def _string(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ApiError(400, "is required", key)
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ApiError(400, "must be a string", key)
    return str(value)


def _accepted(payload: dict[str, Any]) -> Any:
    return jsonify(payload), 202


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document(request.host_url.rstrip("/")))


@bp.get("/me")
@token_required
def whoami() -> Any:
    user = api_user()
    tenants = commands.tenants_of(get_session(), acting())
    return jsonify(
        email=user.email,
        is_admin=user.is_admin,
        tenants=[{"id": t.id, "slug": t.slug, "name": t.name} for t in tenants],
    )


@bp.get("/kinds")
@token_required
def kinds() -> Any:
    return jsonify(kinds=describe_kinds())


@bp.get("/apps")
@token_required
def list_apps() -> Any:
    redis = get_redis()
    apps = services.apps_visible_to(get_session(), api_user())
    return jsonify(apps=[app_dict(app, redis) for app in apps])


@bp.post("/apps")
@token_required
def create_app() -> Any:
    data = _body()
    app, job = commands.create_app(
        get_session(),
        get_redis(),
        acting(),
        name=_string(data, "name", required=True) or "",
        tech=_string(data, "tech", required=True) or "",
        tenant_ref=_string(data, "tenant"),
        host_ref=_string(data, "host"),
        custom_command=_string(data, "custom_command"),
    )
    return _accepted({"app": app_dict(app), "job": job_dict(job)})


@bp.get("/apps/<int:app_id>")
@token_required
def show_app(app_id: int) -> Any:
    app = _app(app_id)
    data = app_dict(app, get_redis())
    data["services"] = [service_dict(s) for s in app.services]
    return jsonify(app=data)


@bp.delete("/apps/<int:app_id>")
@token_required
def delete_app(app_id: int) -> Any:
    app = _app(app_id)
    job = commands.delete_app(get_session(), get_redis(), acting(), app)
    return _accepted({"job": job_dict(job)})


@bp.get("/apps/<int:app_id>/status")
@token_required
def app_status(app_id: int) -> Any:
    return jsonify(status_payload(_app(app_id), get_redis()))


@bp.get("/apps/<int:app_id>/services")
@token_required
def list_services(app_id: int) -> Any:
    return jsonify(services=[service_dict(s) for s in _app(app_id).services])


@bp.post("/apps/<int:app_id>/services/<name>/<any(enable, disable):change>")
@token_required
def toggle_service(app_id: int, name: str, change: str) -> Any:
    app = _app(app_id)
    service, job = commands.set_service_enabled(
        get_session(), get_redis(), acting(), app, name, change == "enable"
    )
    return _accepted({"service": service_dict(service) if service else None, "job": job_dict(job)})


@bp.post("/apps/<int:app_id>/programs/<program>/<action>")
@token_required
def program_action(app_id: int, program: str, action: str) -> Any:
    app = _app(app_id)
    job = commands.program_action(get_session(), get_redis(), acting(), app, program, action)
    return _accepted({"job": job_dict(job)})


@bp.post("/apps/<int:app_id>/logs")
@token_required
def read_log(app_id: int) -> Any:
    app = _app(app_id)
    data = _body()
    size = data.get("bytes", 64 * 1024)
    job = commands.read_log(
        get_session(),
        get_redis(),
        acting(),
        app,
        _string(data, "program") or "app",
        _string(data, "channel") or "stdout",
        size,
    )
    return _accepted({"job": job_dict(job)})


@bp.get("/apps/<int:app_id>/jobs")
@token_required
def app_jobs(app_id: int) -> Any:
    app = _app(app_id)
    rows = jobs_visible_to(get_session(), api_user(), app=app, limit=100)
    return jsonify(jobs=[job_dict(job, with_result=False) for job in rows])


@bp.get("/jobs/<job_id>")
@token_required
def job_status(job_id: str) -> Any:
    job = job_for(get_session(), api_user(), job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id}")
    return jsonify(job=job_dict(job))
