"""The hosting panel and JSON API (Flask).

``create_app(test_config=None)`` builds the app (flaskr style): config from
``hosting.settings`` (DATABASE_URL, REDIS_URL), then each extension's ``init_app`` and one
blueprint per area: ``auth`` (login, logout, API tokens), ``apps`` (the customer's pages),
``live`` (server-sent events of an app page and the apps list), ``admin`` (hosts, tenants,
users, all jobs), ``job_status`` (job status JSON for live pages), ``api`` (/api/v1, bearer
tokens), ``health`` (/healthz, /readyz) and ``metrics`` (/metrics, for Prometheus, with the
operator's METRICS_TOKEN). The panel never talks to a runtime: it reads the database and
Redis (status) and enqueues jobs (``hosting.queue``).

Serve with ``gunicorn 'admin_web:create_app()'``; ``flask --app admin_web init-db`` migrates
the database and ``flask --app admin_web create-user`` adds the first admin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, render_template
from werkzeug.exceptions import HTTPException

from admin_web.config import build_config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(build_config(test_config))

    from admin_web import cli, extensions, limits, metrics, security, templating

    limits.init_app(app)
    extensions.init_db(app)
    extensions.init_redis(app)
    extensions.init_login(app)
    extensions.init_csrf(app)
    security.init_app(app)
    templating.init_app(app)
    cli.init_app(app)
    metrics.init_app(app)

    from admin_web import admin, api, apps, auth, health, job_status, live

    app.register_blueprint(auth.bp)
    app.register_blueprint(apps.bp)
    app.register_blueprint(live.bp)
    live.init_app(app)
    app.register_blueprint(admin.bp)
    app.register_blueprint(job_status.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    extensions.csrf.exempt(api.bp)  # bearer tokens only; cookies never authenticate it
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(error: HTTPException) -> Any:
    from admin_web.extensions import wants_json

    code = error.code or 500
    message = error.description or error.name
    if code == 413:
        message = "the request is too large"
    if wants_json():
        response = jsonify(error={"message": message, "field": None})
        response.status_code = code
        return response
    return render_template("error.html", code=code, name=error.name, message=message), code
