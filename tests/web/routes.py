"""The app's URL map as test cases: every (endpoint, method), classified, with URLs built
for a given world. A new route that no class covers fails ``test_every_route_is_classified``,
so the isolation, CSRF and GET-safety tests cannot silently miss it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from tests.web.fixtures import World

# /metrics has no login: it answers only the operator's METRICS_TOKEN and is a 404 when
# none is set (tests/web/test_metrics.py).
PUBLIC = {
    "static",
    "auth.login",
    "api.openapi",
    "health.healthz",
    "health.readyz",
    "metrics.metrics",
}
# Routes that take an app, a job or a token of someone: another tenant gets 404 on them.
OWNED_ARGS = {"app_id", "job_id", "token_id"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    rule: str
    arguments: frozenset[str]

    @property
    def is_api(self) -> bool:
        return self.endpoint.startswith("api.")

    @property
    def is_admin(self) -> bool:
        return self.endpoint.startswith("admin.")

    @property
    def is_owned(self) -> bool:
        return bool(self.arguments & OWNED_ARGS)

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


def routes(app: Flask) -> list[Route]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.append(Route(rule.endpoint, method, rule.rule, frozenset(rule.arguments)))
    return sorted(found, key=lambda route: (route.rule, route.method))


def values_for(route: Route, world: World) -> dict[str, Any]:
    """Path values naming tenant A's things (shop, its job, alice's token)."""
    values: dict[str, Any] = {
        "app_id": world.shop_id,
        "job_id": world.shop_job_id,
        "token_id": world.alice_token_id,
        "tenant_id": 1,
        "user_id": world.alice_id,
        "target": "app",
        "program": "app",
        "action": "restart",
        "name": "cron" if "programs" in route.rule else _service_name(route),
        "change": "enable",
        "filename": "panel.css",
    }
    return {key: values[key] for key in route.arguments}


def _service_name(route: Route) -> str:
    """redis: enabled by name (added on first enable); app: a service the world's shop has,
    for the routes that change an existing one's settings."""
    return "app" if route.method == "PATCH" else "redis"


def url(app: Flask, route: Route, world: World, **override: Any) -> str:
    values = {**values_for(route, world), **override}
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        return adapter.build(route.endpoint, values, method=route.method)


def request(client: Any, method: str, target: str, **kwargs: Any) -> Any:
    return client.open(target, method=method, **kwargs)


def collected_routes() -> list[Route]:
    """The routes of a throwaway app, for parametrizing at collection time (no database or
    Redis is touched: both connect lazily)."""
    from admin_web import create_app
    from admin_web.extensions import databases

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "collect",
            "DATABASE_URL": "sqlite://",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    try:
        return routes(app)
    finally:
        databases(app).dispose()


ROUTES = collected_routes()
