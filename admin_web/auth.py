"""Login and logout (session cookies), and the user's own API tokens page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_login import login_required, login_user, logout_user
from hosting import login_sessions, services, tokens
from hosting.errors import InvalidInput, NotFound

from admin_web.extensions import LOGIN_SESSION_KEY, LoginUser, get_session, me
from admin_web.forms import LoginForm, TokenForm, attach_error
from admin_web.security import (
    clear_login_failures,
    login_blocked,
    record_login_failure,
    safe_next,
)

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        if login_blocked(email):
            minutes = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"] // 60
            form.form_errors.append(
                f"Too many failed attempts. Wait {minutes} minutes and try again."
            )
            return render_template("auth/login.html", form=form), 429
        user = services.authenticate(get_session(), email, form.password.data or "")
        if user is None:
            record_login_failure(email)
            form.form_errors.append("Wrong e-mail or password.")
            return render_template("auth/login.html", form=form), 401
        clear_login_failures(email)
        # A fresh session: nothing set before login (by anyone) carries over.
        cookie_session.clear()
        session = get_session()
        cookie_session[LOGIN_SESSION_KEY] = login_sessions.start_session(session, user)
        session.commit()
        login_user(LoginUser(user))
        return redirect(safe_next(request.args.get("next")) or url_for("apps.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    # Revoked on the server: a copy of this cookie logs no one in any more.
    session = get_session()
    login_sessions.end_session(session, cookie_session.get(LOGIN_SESSION_KEY))
    session.commit()
    logout_user()
    cookie_session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens_page() -> Any:
    session = get_session()
    form = TokenForm()
    created: str | None = None
    if form.validate_on_submit():
        try:
            _row, created = tokens.create_token(session, me(), form.name.data or "")
            session.commit()
            form = TokenForm(formdata=None)
        except InvalidInput as exc:
            session.rollback()
            attach_error(form, exc)
    rows = tokens.tokens_of(session, me())
    # The plaintext is rendered into this one response only: it is stored nowhere.
    return render_template("account/tokens.html", form=form, tokens=rows, created=created)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    session = get_session()
    try:
        token = tokens.revoke_own_token(session, me(), token_id)
    except NotFound:
        abort(404)
    session.commit()
    flash(f"Token {token.name!r} revoked.", "info")
    return redirect(url_for("auth.tokens_page"))
