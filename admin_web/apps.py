"""The customer's pages: apps list, an app's processes and actions, services, custom
programs, logs, and the app's job history. Every app route loads the app through
``hosting.services.get_app_for``: another tenant's app is a 404, whatever the URL."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from hosting import commands, services
from hosting.app_spec import Entry, spec_of
from hosting.catalog import get_kind
from hosting.commands import Actor
from hosting.desired_state import actual_state
from hosting.errors import InvalidInput, NotFound
from hosting.job_records import jobs_visible_to
from hosting.live_events import HISTORY_KEEP
from hosting.log_reads import DEFAULT_LOG_BYTES, LogUnavailable
from hosting.models import App, Host, Job, Service
from hosting.spec_plan import Plan
from hosting.status import read_app_status
from hosting.usage import usage_payload
from sqlalchemy import select

from admin_web.extensions import get_redis, get_session, me, wants_json
from admin_web.forms import (
    CustomProgramForm,
    NewAppForm,
    attach_error,
    attach_errors,
    has_errors,
    labelled,
)
from admin_web.job_status import job_for
from admin_web.presenters import (
    RECENT_JOBS,
    app_state,
    config_notices,
    desired_actual,
    history_limit,
    history_payload,
    job_dict,
    page_status_payload,
    process_rows,
)

bp = Blueprint("apps", __name__)
LOG_SIZES = (16 * 1024, 64 * 1024, 256 * 1024)


def acting() -> Actor:
    """The logged-in user as the commands' actor (scoped to their tenants)."""
    return Actor.for_user(me())


def load_app(app_id: int) -> App:
    try:
        return services.get_app_for(get_session(), me(), app_id)
    except NotFound:
        abort(404)


def _queued(job: Job) -> Any:
    """After a form: back to the app page, whose job card follows the job live. The card is
    the one voice for the job's state: no flash says "queued" beside a card saying done."""
    if wants_json():
        return jsonify(job=job_dict(job)), 202
    flash(job.id, "job")
    return redirect(url_for("apps.detail", app_id=job.app_id))


def _refused(app: App, error: InvalidInput | NotFound) -> Any:
    get_session().rollback()
    if isinstance(error, NotFound):
        abort(404)
    if wants_json():
        return jsonify(error={"message": error.message, "field": error.field}), 400
    flash(f"{error.field}: {error.message}", "error")
    return redirect(url_for("apps.detail", app_id=app.id))


@bp.get("/")
@login_required
def index() -> Any:
    session, redis = get_session(), get_redis()
    apps = services.apps_visible_to(session, me())
    states = {app.id: app_state(app, read_app_status(redis, app.id)) for app in apps}
    return render_template("apps/list.html", apps=apps, states=states)


@bp.get("/apps/status.json")
@login_required
def index_status() -> Any:
    redis = get_redis()
    apps = services.apps_visible_to(get_session(), me())
    return jsonify(apps={str(a.id): app_state(a, read_app_status(redis, a.id)) for a in apps})


@bp.route("/apps/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    session = get_session()
    form = NewAppForm()
    tenants = commands.tenants_of(session, acting())
    form.tenant.choices = [labelled(t.slug, t.name) for t in tenants]
    hosts = list(session.scalars(select(Host).order_by(Host.name))) if me().is_admin else []
    if hosts:
        form.host.choices = [labelled("", "least loaded")] + [h.name for h in hosts]
    else:
        del form.host  # members (and an empty platform) get the least loaded host
    if not tenants:
        flash("You are not a member of any company yet.", "error")
    if form.validate_on_submit():
        try:
            app, job = commands.create_app(
                session,
                get_redis(),
                acting(),
                name=(form.name.data or "").strip(),
                tech=form.tech.data or "",
                tenant_ref=form.tenant.data,
                host_ref=form.host.data if "host" in form else None,
                custom_command=(form.custom_command.data or "").strip() or None,
            )
        except InvalidInput as exc:
            session.rollback()
            attach_error(form, exc)
        else:
            return _queued(job)
    code = 400 if form.errors or form.form_errors else 200
    return render_template("apps/new.html", form=form, hosts=hosts), code


@bp.get("/apps/<int:app_id>")
@login_required
def detail(app_id: int) -> Any:
    app = load_app(app_id)
    session, redis = get_session(), get_redis()
    status = read_app_status(redis, app.id)
    by_name = {service.name: service for service in app.services}
    toggles = [
        {"name": kind, "kind": kind, "service": by_name.get(kind), "doc": get_kind(kind).doc}
        for kind in commands.TOGGLE_KINDS
    ]
    jobs = jobs_visible_to(session, me(), app=app, limit=RECENT_JOBS)
    states = desired_actual(session, app, status)
    rows = {row["name"]: row for row in states["services"]}
    for kind in commands.TOGGLE_KINDS:  # never enabled: no row, but the runtime can tell
        rows.setdefault(kind, {"actual": actual_state(status, kind)})
    return render_template(
        "apps/detail.html",
        app=app,
        state=app_state(app, status),
        processes=process_rows(app, status),
        services=rows,
        apply=states["apply"],
        differences=states["differences"],
        notices=config_notices(status),
        toggles=toggles,
        customs=[s for s in app.services if s.kind == "custom"],
        others=[s for s in app.services if s.kind not in ("custom", *commands.TOGGLE_KINDS)],
        jobs=jobs,
        history=history_payload(redis, app.id),
    )


@bp.get("/apps/<int:app_id>/status.json")
@login_required
def status(app_id: int) -> Any:
    app = load_app(app_id)
    return jsonify(page_status_payload(get_session(), me(), app, get_redis()))


@bp.get("/apps/<int:app_id>/history")
@login_required
def history(app_id: int) -> Any:
    """The app's whole kept restart history (the app page shows the last HISTORY_SHOWN)."""
    app = load_app(app_id)
    payload = history_payload(get_redis(), app.id, HISTORY_KEEP)
    return render_template("apps/history.html", app=app, history=payload)


@bp.get("/apps/<int:app_id>/history.json")
@login_required
def history_json(app_id: int) -> Any:
    app = load_app(app_id)
    try:
        limit = history_limit(request.args.get("limit"))
    except InvalidInput as exc:
        abort(400, description=f"{exc.field}: {exc.message}")
    return jsonify(history_payload(get_redis(), app.id, limit))


@bp.get("/apps/<int:app_id>/usage.json")
@login_required
def usage(app_id: int) -> Any:
    """The CPU and memory graphs' data (``hosting.usage``) with the restart marks."""
    app = load_app(app_id)
    try:
        return jsonify(usage_payload(get_redis(), app.id, request.args.get("range", "hour")))
    except InvalidInput as exc:
        return jsonify(error={"message": exc.message, "field": exc.field}), 400


@bp.post("/apps/<int:app_id>/control/<target>/<action>")
@login_required
def control(app_id: int, target: str, action: str) -> Any:
    app = load_app(app_id)
    try:
        job = commands.program_action(get_session(), get_redis(), acting(), app, target, action)
    except InvalidInput as exc:
        return _refused(app, exc)
    return _queued(job)


@bp.post("/apps/<int:app_id>/services/<name>/<any(enable, disable):change>")
@login_required
def toggle_service(app_id: int, name: str, change: str) -> Any:
    app = load_app(app_id)
    try:
        _service, job = commands.set_service_enabled(
            get_session(), get_redis(), acting(), app, name, change == "enable"
        )
    except (InvalidInput, NotFound) as exc:
        return _refused(app, exc)
    return _queued(job)


def _custom_or_404(app: App, name: str) -> Service:
    try:
        return commands.custom_program(app, name)
    except NotFound:
        abort(404)


@bp.route("/apps/<int:app_id>/programs/new", methods=["GET", "POST"])
@login_required
def program_new(app_id: int) -> Any:
    return _program_form(load_app(app_id), None)


@bp.route("/apps/<int:app_id>/programs/<name>/edit", methods=["GET", "POST"])
@login_required
def program_edit(app_id: int, name: str) -> Any:
    app = load_app(app_id)
    return _program_form(app, _custom_or_404(app, name))


def _program_form(app: App, existing: Service | None) -> Any:
    form = CustomProgramForm()
    if existing is not None and request.method == "GET":
        form.fill(existing.name, dict(existing.settings or {}))
    if form.is_submitted():
        form.validate()
        name = existing.name if existing is not None else (form.name.data or "").strip()
        # The platform's own checks run even when the form's did not pass, so every field's
        # error shows at once, not one per submit.
        settings = form.settings()
        attach_errors(
            form, services.input_errors(app, "custom", name, settings), beside_others=False
        )
        if not has_errors(form) and existing is not None:
            try:
                preview = _change_preview(app, existing, settings)
            except InvalidInput as exc:  # another service of the app no longer passes
                attach_error(form, exc)
                page = render_template(
                    "apps/program_form.html", app=app, form=form, existing=existing
                )
                return page, 400
            if not preview.changes:
                flash(f"Program {existing.name}: nothing to change.", "info")
                return redirect(url_for("apps.detail", app_id=app.id))
            if request.form.get("confirmed") != preview_digest(preview):
                # Show what changes and restarts first; saving takes one more click, and
                # only for this very change (the digest: not one made since by anyone).
                return render_template(
                    "apps/program_form.html",
                    app=app,
                    form=form,
                    existing=existing,
                    preview=preview,
                    digest=preview_digest(preview),
                )
        if not has_errors(form):
            try:
                _service, job = commands.save_custom_program(
                    get_session(), get_redis(), acting(), app, name, settings, existing=existing
                )
            except InvalidInput as exc:
                get_session().rollback()
                attach_error(form, exc)
            else:
                return _queued(job)
    code = 400 if has_errors(form) else 200
    return render_template("apps/program_form.html", app=app, form=form, existing=existing), code


def _change_preview(app: App, existing: Service, settings: dict[str, Any]) -> Plan:
    """The app file's diff for this one change: the same preview as hostingctl apply
    --dry-run and the API's."""
    entry = Entry("custom", existing.enabled, settings)
    return commands.preview_spec(app, spec_of(app).with_entry(existing.name, entry, "the form"))


def preview_digest(preview: Plan) -> str:
    return hashlib.sha256("\n".join(preview.lines()).encode()).hexdigest()


@bp.post("/apps/<int:app_id>/programs/<name>/remove")
@login_required
def program_remove(app_id: int, name: str) -> Any:
    app = load_app(app_id)
    service = _custom_or_404(app, name)
    try:
        job = commands.remove_custom_program(get_session(), get_redis(), acting(), app, service)
    except InvalidInput as exc:
        return _refused(app, exc)
    return _queued(job)


def _log_request(app: App) -> tuple[str, str, int]:
    """(program, channel, bytes) from the query string; InvalidInput names a bad one."""
    programs = log_program_names(app)
    program = request.args.get("program") or ("app" if "app" in programs else "")
    channel = request.args.get("channel", "stdout")
    try:
        size = int(request.args.get("bytes", DEFAULT_LOG_BYTES))
    except ValueError:
        raise InvalidInput("bytes", "must be a number of bytes") from None
    return program, channel, size


def _read_log(app: App, program: str, channel: str, size: Any) -> str:
    timeout = current_app.config["LOG_READ_SECONDS"]
    return commands.read_log(
        get_session(), get_redis(), acting(), app, program, channel, size, timeout=timeout
    )


def log_program_names(app: App) -> list[str]:
    return sorted({n for names in commands.process_names(app).values() for n in names})


@bp.get("/apps/<int:app_id>/logs")
@login_required
def logs(app_id: int) -> Any:
    """The log viewer. Reading is no change (a GET, no job): the app's host reads it
    (``hosting.log_reads``) while the page waits."""
    app = load_app(app_id)
    text, error = None, None
    try:
        program, channel, size = _log_request(app)
        if request.args.get("program"):
            text = _read_log(app, program, channel, size)
    except (InvalidInput, LogUnavailable) as exc:
        error = str(exc)
        program, channel, size = request.args.get("program", ""), "stdout", DEFAULT_LOG_BYTES
    return render_template(
        "apps/logs.html",
        app=app,
        programs=log_program_names(app),
        program=program,
        channel=channel,
        size=size,
        sizes=LOG_SIZES,
        text=text,
        error=error,
    )


@bp.get("/apps/<int:app_id>/logs.json")
@login_required
def logs_json(app_id: int) -> Any:
    """The same read for the page's live follow: ``{"text": ...}``, or an error."""
    app = load_app(app_id)
    try:
        program, channel, size = _log_request(app)
        text = _read_log(app, program, channel, size)
    except InvalidInput as exc:
        return jsonify(error={"message": exc.message, "field": exc.field}), 400
    except LogUnavailable as exc:
        return jsonify(error={"message": str(exc), "field": None}), 503
    return jsonify(program=program, channel=channel, text=text)


@bp.post("/apps/<int:app_id>/jobs/<job_id>/retry")
@login_required
def retry(app_id: int, job_id: str) -> Any:
    """Run a failed job again (after its cause is fixed): a new job, followed live."""
    app = load_app(app_id)
    job = job_for(get_session(), me(), job_id)
    if job is None or job.app_id != app.id:
        abort(404)
    try:
        new_job = commands.retry_job(get_session(), get_redis(), acting(), job)
    except (InvalidInput, NotFound) as exc:
        return _refused(app, exc)
    return _queued(new_job)


@bp.get("/apps/<int:app_id>/jobs")
@login_required
def jobs(app_id: int) -> Any:
    app = load_app(app_id)
    rows = jobs_visible_to(get_session(), me(), app=app, limit=200)
    return render_template("apps/jobs.html", app=app, jobs=rows)


@bp.post("/apps/<int:app_id>/delete")
@login_required
def delete(app_id: int) -> Any:
    app = load_app(app_id)
    if request.form.get("confirm") != app.name:
        flash("Type the app's name to confirm deleting it.", "error")
        return redirect(url_for("apps.detail", app_id=app.id))
    job = commands.delete_app(get_session(), get_redis(), acting(), app)
    return _queued(job)
