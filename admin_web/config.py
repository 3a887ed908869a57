"""The panel's Flask configuration: hosting settings, the secret key and security defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hosting.log_reads import READ_SECONDS
from hosting.settings import Settings, load_settings

SECRET_KEY_FILE = "admin_web_secret_key"
MAX_REQUEST_BYTES = 1024 * 1024  # forms and JSON bodies are small; uploads do not exist
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW_SECONDS = 300
# Server-sent event streams open at once per panel process (each holds a thread and a Redis
# connection); gunicorn runs with more threads than this, so pages and forms still get one.
EVENT_STREAMS_MAX = 24


def load_or_create_secret_key(data_dir: Path) -> str:
    """The key in ``<data dir>/admin_web_secret_key``, created (mode 0600) on first use, so
    sessions survive restarts and several panel processes on one host agree on it."""
    path = data_dir / SECRET_KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two processes start at once, one creates and the other reads its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def build_config(
    test_config: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every config value the panel reads, from the environment then ``test_config``."""
    env = os.environ if environ is None else environ
    overrides = dict(test_config or {})
    # What the caller gives (tests) wins; the rest is the platform's settings.
    settings: Settings = load_settings(
        env, given={key: overrides.get(key) for key in ("DATABASE_URL", "REDIS_URL")}
    )
    testing = bool(overrides.get("TESTING", False))
    debug = bool(overrides.get("DEBUG", False)) or env.get("FLASK_DEBUG") == "1"
    # PANEL_ALLOW_HTTP=1: served over plain http on 127.0.0.1 (scripts/run), where a
    # Secure cookie would never come back and nobody else can listen in.
    plain_http = debug or env.get("PANEL_ALLOW_HTTP") == "1"
    config: dict[str, Any] = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "HOSTING_DATA_DIR": str(settings.data_dir),
        "MAX_CONTENT_LENGTH": MAX_REQUEST_BYTES,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Plain http only where nobody else can listen: a developer's machine or tests.
        "SESSION_COOKIE_SECURE": not (testing or plain_http),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": not (testing or plain_http),
        "SESSION_COOKIE_NAME": "panel_session",
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead: pages stay open for hours
        "LOGIN_FAILURE_LIMIT": LOGIN_FAILURE_LIMIT,
        "LOGIN_FAILURE_WINDOW_SECONDS": LOGIN_FAILURE_WINDOW_SECONDS,
        "STATUS_POLL_MS": 2000,
        "STATUS_STALE_SECONDS": 30,
        "LOG_READ_SECONDS": READ_SECONDS,  # how long a log read waits for the app's host
        # Live pages (admin_web.live): streams per process, each ends after a while (the
        # browser reconnects), with a keep-alive comment between events, and a burst of
        # messages coalesced into one read.
        "EVENT_STREAMS_MAX": int(env.get("PANEL_EVENT_STREAMS") or EVENT_STREAMS_MAX),
        "EVENT_STREAM_SECONDS": 300.0,
        "EVENT_KEEPALIVE_SECONDS": 15.0,
        "EVENT_COALESCE_SECONDS": 0.05,
    }
    # The bearer token of GET /metrics (admin_web.metrics); unset: /metrics is a 404.
    config["METRICS_TOKEN"] = env.get("METRICS_TOKEN") or None
    secret = env.get("ADMIN_WEB_SECRET_KEY") or env.get("SECRET_KEY")
    if secret:
        config["SECRET_KEY"] = secret
    config.update(overrides)
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = load_or_create_secret_key(Path(config["HOSTING_DATA_DIR"]))
    return config
