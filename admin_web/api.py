"""The JSON API, /api/v1. Authenticated only by ``Authorization: Bearer <token>`` (tokens
from the "API tokens" page): a session cookie never authenticates here, which is also why
the blueprint can be exempt from CSRF. Same rules as the pages: another tenant's app is 404.

Errors are ``{"error": {"message": ..., "field": ...}}`` with the HTTP status saying what
kind (400 bad input, 401 no valid token, 404 not found or not yours, 413 too large, 503 the
app's host did not answer a log read in time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from hosting import commands, services, tokens
from hosting.app_spec import read_spec, spec_of, spec_text
from hosting.catalog import describe_kinds
from hosting.commands import Actor
from hosting.errors import InvalidInput, NotFound
from hosting.job_records import jobs_visible_to
from hosting.log_reads import DEFAULT_LOG_BYTES, LogUnavailable
from hosting.models import ApiToken, App, Job, Tenant, User
from hosting.status import read_app_status
from hosting.usage import usage_payload
from sqlalchemy.orm import Session

from admin_web import live
from admin_web.extensions import databases, get_redis, get_session
from admin_web.job_status import job_for
from admin_web.openapi import openapi_document
from admin_web.presenters import (
    app_dict,
    desired_actual,
    history_limit,
    history_payload,
    job_dict,
    service_dict,
    status_payload,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        every: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.every = status, message, field, every


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Any:
    body: dict[str, Any] = {"message": error.message, "field": error.field}
    if error.every:
        body["errors"] = error.every
    response = jsonify(error=body)
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.errorhandler(InvalidInput)
def _invalid(error: InvalidInput) -> Any:
    get_session().rollback()
    # Every value refused at once (an app file's) in "errors"; the first one as usual.
    every = [{"message": e.message, "field": e.field} for e in error.every] if error.more else None
    return _api_error(ApiError(400, error.message, error.field, every))


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Any:
    get_session().rollback()
    return _api_error(ApiError(404, str(error)))


@bp.errorhandler(LogUnavailable)
def _log_unavailable(error: LogUnavailable) -> Any:
    return _api_error(ApiError(503, str(error)))


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
        databases().commit_credential_check(session)  # the token's last use
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


def _read_log(app: App, program: str, channel: str, size: Any) -> str:
    timeout = current_app.config["LOG_READ_SECONDS"]
    return commands.read_log(
        get_session(), get_redis(), acting(), app, program, channel, size, timeout=timeout
    )


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
    redis = get_redis()
    data = app_dict(app, redis)
    # Each service as asked (enabled, settings) beside what its runtime runs (actual).
    states = desired_actual(get_session(), app, read_app_status(redis, app.id))
    data["services"] = [
        {**service_dict(service), **state}
        for service, state in zip(app.services, states["services"], strict=True)
    ]
    data["apply"] = states["apply"]
    data["differences"] = states["differences"]
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
    return jsonify(status_payload(get_session(), _app(app_id), get_redis()))


@bp.get("/apps/<int:app_id>/events")
@token_required
def app_events(app_id: int) -> Any:
    """The app's server-sent events (admin_web.live): ``status`` with this API's status
    payload on connect and on each change, ``history``, ``job`` and ``usage``."""
    app = _app(app_id)
    plaintext = request.headers.get("Authorization", "").partition(" ")[2].strip()

    def verify(session: Session) -> User | None:
        return tokens.verify_token(session, plaintext)

    return live.app_events(live.Viewer(api_user().id, verify), app, _status_of)


def _status_of(session: Session, _user: User, app: App, redis: Any) -> dict[str, Any]:
    return status_payload(session, app, redis)


@bp.get("/apps/<int:app_id>/history")
@token_required
def app_history(app_id: int) -> Any:
    """The app's restart history, newest first (``?limit=``, default 50, at most all kept)."""
    app = _app(app_id)
    return jsonify(history_payload(get_redis(), app.id, history_limit(request.args.get("limit"))))


@bp.get("/apps/<int:app_id>/usage")
@token_required
def app_usage(app_id: int) -> Any:
    app = _app(app_id)
    return jsonify(usage_payload(get_redis(), app.id, request.args.get("range", "hour")))


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


@bp.post("/apps/<int:app_id>/programs")
@token_required
def add_program(app_id: int) -> Any:
    """Add a custom program: ``{"name": ..., "command": ..., ...}`` (the panel's form)."""
    app, settings = _app(app_id), _body()
    name = _string(settings, "name", required=True) or ""
    settings.pop("name")
    service, job = commands.save_custom_program(
        get_session(), get_redis(), acting(), app, name, settings
    )
    return _accepted({"service": service_dict(service), "job": job_dict(job)})


@bp.put("/apps/<int:app_id>/programs/<name>")
@token_required
def change_program(app_id: int, name: str) -> Any:
    """Replace a custom program's settings (what the body leaves out is back at default)."""
    app, settings = _app(app_id), _body()
    if settings.get("name", name) != name:
        raise ApiError(400, "a program is not renamed; remove it and add another", "name")
    settings.pop("name", None)
    existing = commands.custom_program(app, name)
    service, job = commands.save_custom_program(
        get_session(), get_redis(), acting(), app, name, settings, existing=existing
    )
    return _accepted({"service": service_dict(service), "job": job_dict(job)})


@bp.delete("/apps/<int:app_id>/programs/<name>")
@token_required
def remove_program(app_id: int, name: str) -> Any:
    app = _app(app_id)
    service = commands.custom_program(app, name)
    job = commands.remove_custom_program(get_session(), get_redis(), acting(), app, service)
    return _accepted({"job": job_dict(job)})


@bp.patch("/apps/<int:app_id>/services/<name>")
@token_required
def change_service(app_id: int, name: str) -> Any:
    """Change a service's settings: merged over its own; null restores a default."""
    app = _app(app_id)
    service, job = commands.change_service_settings(
        get_session(), get_redis(), acting(), app, name, _body()
    )
    return _accepted({"service": service_dict(service), "job": job_dict(job)})


def _spec_body() -> Any:
    """The app file in the body (TOML, as ``hostingctl export`` prints it)."""
    raw = request.get_data()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the app file must be UTF-8 text", "body") from None
    return read_spec(text, request.args.get("file") or "request body")


@bp.get("/apps/<int:app_id>/spec")
@token_required
def export_spec(app_id: int) -> Any:
    """The app as an app file (TOML): apply it again and nothing changes."""
    text = spec_text(spec_of(_app(app_id)))
    return current_app.response_class(text, mimetype="application/toml")


@bp.post("/apps/<int:app_id>/spec/preview")
@token_required
def preview_spec(app_id: int) -> Any:
    """What applying the app file in the body would change, field by field (changes
    nothing)."""
    app = _app(app_id)
    plan = commands.preview_spec(app, _spec_body())
    get_session().rollback()
    return jsonify({**plan.as_dict(), "lines": plan.lines()})


@bp.post("/apps/<int:app_id>/spec")
@token_required
def apply_spec(app_id: int) -> Any:
    """Apply the app file in the body: one job for every change, none when nothing differs
    (200 then; 202 with the job otherwise)."""
    app = _app(app_id)
    plan, job = commands.apply_spec(get_session(), get_redis(), acting(), app, _spec_body())
    payload = {**plan.as_dict(), "lines": plan.lines(), "job": None}
    if job is None:
        get_session().rollback()
        return jsonify(payload)
    return _accepted({**payload, "job": job_dict(job)})


@bp.route("/apps/<int:app_id>/logs", methods=["GET", "POST"])
@token_required
def read_log(app_id: int) -> Any:
    """A log's tail, read by the app's host while the request waits: no job, no audit
    record (reading changes nothing). GET takes the query string, POST a JSON body."""
    app = _app(app_id)
    data: dict[str, Any] = dict(request.args) if request.method == "GET" else _body()
    size: Any = data.get("bytes", DEFAULT_LOG_BYTES)
    if request.method == "GET":
        try:
            size = int(size)
        except ValueError:
            raise ApiError(400, "must be a number of bytes", "bytes") from None
    program = _string(data, "program") or "app"
    channel = _string(data, "channel") or "stdout"
    text = _read_log(app, program, channel, size)
    return jsonify(program=program, channel=channel, text=text)


@bp.get("/apps/<int:app_id>/jobs")
@token_required
def app_jobs(app_id: int) -> Any:
    app = _app(app_id)
    rows = jobs_visible_to(get_session(), api_user(), app=app, limit=100)
    return jsonify(jobs=[job_dict(job, with_result=False) for job in rows])


def _job(job_id: str) -> Job:
    job = job_for(get_session(), api_user(), job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id}")
    return job


@bp.get("/jobs/<job_id>")
@token_required
def job_status(job_id: str) -> Any:
    return jsonify(job=job_dict(_job(job_id)))


@bp.post("/jobs/<job_id>/retry")
@token_required
def retry_job(job_id: str) -> Any:
    """Run a failed job again (after its cause is fixed), as a new job."""
    new_job = commands.retry_job(get_session(), get_redis(), acting(), _job(job_id))
    return _accepted({"job": job_dict(new_job)})


@bp.get("/jobs")
@token_required
def list_jobs() -> Any:
    """The jobs you may see, newest first (``?limit=``, at most 500)."""
    try:
        limit = min(max(int(request.args.get("limit", 100)), 1), 500)
    except ValueError:
        raise ApiError(400, "must be a number", "limit") from None
    rows = jobs_visible_to(get_session(), api_user(), limit=limit)
    return jsonify(jobs=[job_dict(job, with_result=False) for job in rows])


def _token_dict(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@bp.get("/tokens")
@token_required
def list_tokens() -> Any:
    """Your API tokens (never their secrets: only a hash is kept)."""
    return jsonify(tokens=[_token_dict(t) for t in tokens.tokens_of(get_session(), api_user())])


@bp.post("/tokens/<int:token_id>/revoke")
@token_required
def revoke_token(token_id: int) -> Any:
    """Revoke one of your tokens (this one too: the next request with it is 401)."""
    session = get_session()
    token = tokens.revoke_own_token(session, api_user(), token_id)
    session.commit()
    return jsonify(token=_token_dict(token))


# -- admins: hosts, tenants and members, users (the admin pages' actions) -----------------


def _admin() -> User:
    user = api_user()
    if not user.is_admin:
        raise ApiError(403, "only admins may do this")
    return user


def _created(payload: dict[str, Any]) -> Any:
    get_session().commit()
    return jsonify(payload), 201


@bp.post("/hosts")
@token_required
def create_host() -> Any:
    _admin()
    data = _body()
    host = services.create_host(
        get_session(),
        _string(data, "name", required=True) or "",
        _string(data, "apps_root", required=True) or "",
        _string(data, "queue"),
    )
    return _created({"host": {"id": host.id, "name": host.name, "queue": host.queue}})


@bp.post("/tenants")
@token_required
def create_tenant() -> Any:
    _admin()
    data = _body()
    tenant = services.create_tenant(
        get_session(), _string(data, "name", required=True) or "", _string(data, "slug")
    )
    return _created({"tenant": {"id": tenant.id, "slug": tenant.slug, "name": tenant.name}})


@bp.post("/tenants/<int:tenant_id>/members")
@token_required
def add_member(tenant_id: int) -> Any:
    _admin()
    session, data = get_session(), _body()
    tenant = services.row_or_404(session, Tenant, tenant_id, "tenant")
    email = _string(data, "email", required=True) or ""
    member = services.add_member_by_email(session, tenant, email, _string(data, "role") or "member")
    return _created({"member": {"email": member.user.email, "role": member.role}})


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "is_admin": user.is_admin, "active": user.is_active}


@bp.post("/users")
@token_required
def create_user() -> Any:
    _admin()
    data = _body()
    is_admin = data.get("is_admin", False)
    if not isinstance(is_admin, bool):
        raise ApiError(400, "must be true or false", "is_admin")
    user = services.create_user(
        get_session(),
        _string(data, "email", required=True) or "",
        _string(data, "password", required=True) or "",
        is_admin=is_admin,
    )
    return _created({"user": _user_dict(user)})


@bp.post("/users/<int:user_id>/active")
@token_required
def set_user_active(user_id: int) -> Any:
    """``{"active": false}`` deactivates a user: logged out everywhere, tokens refused."""
    admin, session, data = _admin(), get_session(), _body()
    active = data.get("active")
    if not isinstance(active, bool):
        raise ApiError(400, "must be true or false", "active")
    user = services.set_user_active(
        session, admin, services.row_or_404(session, User, user_id, "user"), active
    )
    session.commit()
    return jsonify(user=_user_dict(user))
