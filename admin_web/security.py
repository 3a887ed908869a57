"""Login rate limiting, response headers, and the admin-only guard.

The login limiter counts failures in Redis (shared by every panel process on a host and
surviving restarts): after ``LOGIN_FAILURE_LIMIT`` failures for one (client address, e-mail)
pair within the window, further attempts are refused with 429 until the window passes. Keys
are hashed so neither addresses nor e-mails are kept in clear in Redis.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request
from flask_login import current_user, login_required

from admin_web.extensions import get_redis

F = TypeVar("F", bound=Callable[..., Any])
RATE_KEY_PREFIX = "admin_web:login_failures:"

# No CDN and no inline scripts: everything the pages load comes from /static/.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _rate_key(email: str) -> str:
    who = f"{request.remote_addr or '-'}|{(email or '').strip().lower()}"
    return RATE_KEY_PREFIX + hashlib.sha256(who.encode("utf-8")).hexdigest()


def login_blocked(email: str) -> bool:
    count = get_redis().get(_rate_key(email))
    return count is not None and int(count) >= current_app.config["LOGIN_FAILURE_LIMIT"]


def record_login_failure(email: str) -> None:
    key = _rate_key(email)
    pipe = get_redis().pipeline()
    pipe.incr(key)
    # The window starts at the first failure (NX): retrying does not keep extending it.
    pipe.expire(key, current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"], nx=True)
    pipe.execute()


def clear_login_failures(email: str) -> None:
    get_redis().delete(_rate_key(email))


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def admin_required(view: F) -> F:
    """Logged in and an admin; members get 403."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype in ("text/html", "application/json"):
        # Pages show tenants' data: keep them out of shared caches and the back-forward cache.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_security_headers)
