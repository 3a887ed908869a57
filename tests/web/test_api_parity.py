"""Everything the panel changes, the API changes too (issue 21).

The panel's URL map is walked: every state-changing route (POST, PUT, PATCH, DELETE) must be
in ``PANEL_TO_API`` (its /api/v1 counterpart and the one ``hosting`` function both call:
one home for the rule, no validation of their own) or in ``PANEL_ONLY`` (with the reason
there is none). A route added later in neither table fails here.
"""

from __future__ import annotations

import inspect
from types import FunctionType
from typing import Any

import pytest
from flask import Flask

from tests.web.routes import ROUTES, Route

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

# (method, panel endpoint) -> (API endpoint, the hosting function both views call)
PANEL_TO_API: dict[tuple[str, str], tuple[str, str]] = {
    # An app: create it, delete it.
    ("POST", "apps.new"): ("api.create_app", "create_app"),
    ("POST", "apps.delete"): ("api.delete_app", "delete_app"),
    # Start, stop or restart one program, or all of them (target "all": the panel's
    # "Start all" / "Stop all" / "Restart all" buttons; the API's program "all").
    ("POST", "apps.control"): ("api.program_action", "program_action"),
    # Services: enable and disable (memcached, redis added on first enable).
    ("POST", "apps.toggle_service"): ("api.toggle_service", "set_service_enabled"),
    # Custom programs: add, change (the form's confirm step is the API's spec preview), remove.
    ("POST", "apps.program_new"): ("api.add_program", "save_custom_program"),
    ("POST", "apps.program_edit"): ("api.change_program", "save_custom_program"),
    ("POST", "apps.program_remove"): ("api.remove_program", "remove_custom_program"),
    # A failed job, run again.
    ("POST", "apps.retry"): ("api.retry_job", "retry_job"),
    # API tokens: revoke (listing is GET /api/v1/tokens).
    ("POST", "auth.revoke_token"): ("api.revoke_token", "revoke_own_token"),
    # Admins: hosts, tenants and their members, users.
    ("POST", "admin.hosts"): ("api.create_host", "create_host"),
    ("POST", "admin.tenants"): ("api.create_tenant", "create_tenant"),
    ("POST", "admin.add_member"): ("api.add_member", "add_member_by_email"),
    ("POST", "admin.users"): ("api.create_user", "create_user"),
    ("POST", "admin.set_active"): ("api.set_user_active", "set_user_active"),
}

# (method, panel endpoint) -> why the API has no counterpart
PANEL_ONLY: dict[tuple[str, str], str] = {
    ("POST", "auth.login"): "makes a session cookie; the API takes a bearer token per request",
    ("POST", "auth.logout"): "ends that cookie's session; a token ends with its revoke route",
    ("POST", "auth.tokens_page"): (
        "a token is made by a person logged in: one that could make tokens would let a"
        " leaked token outlive its own revocation"
    ),
}

PANEL_ROUTES = [r for r in ROUTES if not r.is_api and r.method in STATE_CHANGING]
API_ROUTES = {(r.method, r.endpoint) for r in ROUTES if r.is_api}


@pytest.mark.parametrize("route", PANEL_ROUTES, ids=lambda r: r.id)
def test_every_state_changing_panel_route_has_an_api_route(route: Route) -> None:
    key = (route.method, route.endpoint)
    assert (key in PANEL_TO_API) != (key in PANEL_ONLY), (
        f"{route.id} ({route.endpoint}) changes state: map it to its /api/v1 route in"
        " PANEL_TO_API, or say in PANEL_ONLY why the API has none"
    )
    if key in PANEL_TO_API:
        endpoint, _function = PANEL_TO_API[key]
        methods = {method for method, name in API_ROUTES if name == endpoint}
        assert methods & STATE_CHANGING, f"{endpoint} is not a state-changing API route"


def test_the_tables_name_only_routes_that_exist() -> None:
    panel = {(r.method, r.endpoint) for r in PANEL_ROUTES}
    assert set(PANEL_TO_API) <= panel and set(PANEL_ONLY) <= panel


def _calls(view: Any, name: str, depth: int = 2) -> bool:
    """Whether ``view`` (or a function of its module it calls, ``depth`` levels down)
    calls something named ``name``."""
    function = inspect.unwrap(view)
    code = function.__code__
    if name in code.co_names:
        return True
    if depth == 0:
        return False
    module = function.__globals__
    helpers = [module.get(each) for each in code.co_names]
    return any(
        isinstance(helper, FunctionType) and _calls(helper, name, depth - 1) for helper in helpers
    )


@pytest.mark.parametrize("key", sorted(PANEL_TO_API), ids=lambda key: key[1])
def test_panel_and_api_call_the_same_function(app: Flask, key: tuple[str, str]) -> None:
    api_endpoint, function = PANEL_TO_API[key]
    panel_view = app.view_functions[key[1]]
    api_view = app.view_functions[api_endpoint]
    assert _calls(panel_view, function), f"{key[1]} does not call {function}"
    assert _calls(api_view, function), f"{api_endpoint} does not call {function}"
