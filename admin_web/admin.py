"""Operators' pages: hosts (queue depth, live workers, apps), tenants and members, users, and
every job. Members get 403 on all of them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from hosting import services
from hosting.errors import InvalidInput
from hosting.health import live_workers
from hosting.job_records import jobs_visible_to
from hosting.models import App, Host, Tenant, User
from hosting.queue import job_queue
from sqlalchemy import func, select

from admin_web.extensions import get_redis, get_session, me
from admin_web.forms import HostForm, MemberForm, TenantForm, UserForm, attach_error
from admin_web.security import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def host_rows() -> list[dict[str, Any]]:
    session, redis = get_session(), get_redis()
    counts = dict(
        session.execute(select(App.host_id, func.count(App.id)).group_by(App.host_id)).all()
    )
    rows = []
    for host in session.scalars(select(Host).order_by(Host.name)):
        queue = job_queue(host.queue, redis)
        workers = live_workers(redis, queue)
        rows.append(
            {
                "host": host,
                "apps": counts.get(host.id, 0),
                "queued": queue.count,
                "failed": queue.failed_job_registry.count,
                "workers": [
                    {"name": w.name, "state": str(w.get_state()), "pid": w.pid} for w in workers
                ],
            }
        )
    return rows


@bp.route("/hosts", methods=["GET", "POST"])
@admin_required
def hosts() -> Any:
    session = get_session()
    form = HostForm()
    if form.validate_on_submit():
        try:
            host = services.create_host(
                session, form.name.data or "", form.apps_root.data or "", form.queue.data or None
            )
            session.commit()
        except InvalidInput as exc:
            session.rollback()
            attach_error(form, exc)
        else:
            flash(f"Host {host.name} added; its workers listen on {host.queue}.", "info")
            return redirect(url_for("admin.hosts"))
    code = 400 if form.errors or form.form_errors else 200
    return render_template("admin/hosts.html", rows=host_rows(), form=form), code


@bp.route("/tenants", methods=["GET", "POST"])
@admin_required
def tenants() -> Any:
    session = get_session()
    form = TenantForm()
    if form.validate_on_submit():
        try:
            tenant = services.create_tenant(session, form.name.data or "", form.slug.data or None)
            session.commit()
        except InvalidInput as exc:
            session.rollback()
            attach_error(form, exc)
        else:
            flash(f"Company {tenant.name} added.", "info")
            return redirect(url_for("admin.tenants"))
    rows = session.scalars(select(Tenant).order_by(Tenant.name)).all()
    code = 400 if form.errors or form.form_errors else 200
    return render_template(
        "admin/tenants.html", tenants=rows, form=form, member_form=MemberForm(formdata=None)
    ), code


@bp.post("/tenants/<int:tenant_id>/members")
@admin_required
def add_member(tenant_id: int) -> Any:
    session = get_session()
    tenant = session.get(Tenant, tenant_id) or abort(404)
    form = MemberForm()
    if not form.validate_on_submit():
        flash("Give a user's e-mail and a role.", "error")
        return redirect(url_for("admin.tenants"))
    email = (form.email.data or "").strip().lower()
    try:
        services.add_member_by_email(session, tenant, email, form.role.data or "member")
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        flash(f"{exc.field}: {exc.message}", "error")
    else:
        flash(f"{email} is now {form.role.data} of {tenant.name}.", "info")
    return redirect(url_for("admin.tenants"))


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> Any:
    session = get_session()
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                session,
                form.email.data or "",
                form.password.data or "",
                is_admin=bool(form.is_admin.data),
            )
            session.commit()
        except InvalidInput as exc:
            session.rollback()
            attach_error(form, exc)
        else:
            flash(f"User {user.email} added.", "info")
            return redirect(url_for("admin.users"))
    rows = session.scalars(select(User).order_by(User.email)).all()
    code = 400 if form.errors or form.form_errors else 200
    return render_template("admin/users.html", users=rows, form=form), code


@bp.post("/users/<int:user_id>/active")
@admin_required
def set_active(user_id: int) -> Any:
    session = get_session()
    user = session.get(User, user_id) or abort(404)
    try:
        services.set_user_active(session, me(), user, request.form.get("active") == "1")
    except InvalidInput as exc:
        session.rollback()
        flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
        return redirect(url_for("admin.users"))
    session.commit()
    flash(f"{user.email} is {'active' if user.is_active else 'deactivated'}.", "info")
    return redirect(url_for("admin.users"))


@bp.get("/jobs")
@admin_required
def jobs() -> Any:
    rows = jobs_visible_to(get_session(), me(), limit=300)
    return render_template("admin/jobs.html", jobs=rows)
