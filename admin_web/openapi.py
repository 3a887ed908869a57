"""The OpenAPI 3 description of /api/v1, written by hand (a test checks it names every API
route and method the app serves, so the two cannot drift apart silently)."""

from __future__ import annotations

from typing import Any

from hosting.catalog import STOP_SIGNALS, TECHS

_ERROR = {"$ref": "#/components/responses/Error"}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_NOT_FOUND = {"$ref": "#/components/responses/NotFound"}
_APP_ID = {"name": "app_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_UNAVAILABLE = {"$ref": "#/components/responses/Unavailable"}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_FILE_NAME = {
    "name": "file",
    "in": "query",
    "schema": {"type": "string"},
    "description": "the file's name, for error messages (default 'request body')",
}
_TOML_BODY = {
    "required": True,
    "content": {"application/toml": {"schema": {"type": "string"}}},
    "description": "an app file (docs/APP_FILE.md)",
}
_TOML_TEXT = {
    "description": "The app file",
    "content": {"application/toml": {"schema": {"type": "string"}}},
}
_CHANNEL = {"type": "string", "enum": ["stdout", "stderr"], "default": "stdout"}
_BYTES = {"type": "integer", "minimum": 1, "maximum": 1048576, "default": 65536}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _queued(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json(_obj(job=_ref("Job"), **(extra or {})), "Accepted: a job was queued")


_STR = {"type": "string"}
_INT = {"type": "integer"}
_ADMIN_ERRORS = {"400": _ERROR, "403": {"$ref": "#/components/responses/Forbidden"}}


def _path_int(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _INT}


def _required(schema: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**schema, "required": list(names)}


def _created(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return _json(_obj(**{key: schema}), "Created")


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    base = {"401": _UNAUTHORIZED}
    return {"summary": summary, "responses": {**responses, **base}, **more}


_DIFFERENCES = {
    "type": "array",
    "items": {"type": "string"},
    "description": "one sentence per service whose runtime does not run what was asked",
}
_LOG = {
    "description": "The log's tail",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "program": {"type": "string"},
                    "channel": {"type": "string"},
                    "text": {"type": "string"},
                },
            }
        }
    },
}


def openapi_document(server_url: str = "") -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/me": {
            "get": _op(
                "The token's user and tenants",
                {
                    "200": _json(
                        _obj(
                            email={"type": "string"},
                            is_admin={"type": "boolean"},
                            tenants={"type": "array", "items": _ref("TenantRef")},
                        ),
                        "The user",
                    )
                },
            )
        },
        "/kinds": {
            "get": _op(
                "Service kinds and their settings",
                {
                    "200": _json(
                        _obj(kinds={"type": "array", "items": {"type": "object"}}), "The catalog"
                    )
                },
            )
        },
        "/apps": {
            "get": _op(
                "List the apps you may see",
                {"200": _json(_obj(apps={"type": "array", "items": _ref("App")}), "Apps")},
            ),
            "post": _op(
                "Create an app (queues create_app)",
                {"202": _queued({"app": _ref("App")}), "400": _ERROR},
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewApp")}},
                },
            ),
        },
        "/apps/{app_id}": {
            "parameters": [_APP_ID],
            "get": _op(
                "Show an app with its services and status",
                {"200": _json(_obj(app=_ref("App")), "The app"), "404": _NOT_FOUND},
            ),
            "delete": _op(
                "Delete an app (queues delete_app)", {"202": _queued(), "404": _NOT_FOUND}
            ),
        },
        "/apps/{app_id}/status": {
            "parameters": [_APP_ID],
            "get": _op(
                "Live process status (from the workers' poller)",
                {"200": _json(_ref("Status"), "Status"), "404": _NOT_FOUND},
            ),
        },
        "/apps/{app_id}/events": {
            "parameters": [_APP_ID],
            "get": _op(
                "Server-sent events: `status` (the status payload) on connect and on each"
                " change, `history` (the History payload), `job` and `usage` (the message"
                " `{app, kind, time}`: read the job or usage again). Keep-alive comments;"
                " the stream ends after about 5 minutes (reconnect); 503 with Retry-After"
                " when the panel has too many streams open",
                {
                    "200": {
                        "description": "An event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "404": _NOT_FOUND,
                    "503": _UNAVAILABLE,
                },
            ),
        },
        "/apps/{app_id}/history": {
            "parameters": [_APP_ID],
            "get": _op(
                "The app's restart history kept by the platform, newest first, with crash"
                " logs (`log_tail`) of unexpected exits",
                {"200": _json(_ref("History"), "History"), "400": _ERROR, "404": _NOT_FOUND},
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    }
                ],
            ),
        },
        "/apps/{app_id}/usage": {
            "parameters": [_APP_ID],
            "get": _op(
                "CPU and memory of the app and of each program, with the restart marks",
                {"200": _json(_ref("Usage"), "Usage"), "400": _ERROR, "404": _NOT_FOUND},
                parameters=[
                    {
                        "name": "range",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["hour", "day"], "default": "hour"},
                        "description": "the last hour (a point per sampler round, 10 s by"
                        " default) or the last day (5 minute averages)",
                    }
                ],
            ),
        },
        "/apps/{app_id}/services": {
            "parameters": [_APP_ID],
            "get": _op(
                "List the app's services",
                {
                    "200": _json(
                        _obj(services={"type": "array", "items": _ref("Service")}), "Services"
                    ),
                    "404": _NOT_FOUND,
                },
            ),
        },
        "/apps/{app_id}/services/{name}/{change}": {
            "parameters": [
                _APP_ID,
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "a service name; 'memcached' or 'redis' are added on enable",
                },
                {
                    "name": "change",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["enable", "disable"]},
                },
            ],
            "post": _op(
                "Enable or disable a service (queues apply_services)",
                {"202": _queued({"service": _ref("Service")}), "400": _ERROR, "404": _NOT_FOUND},
            ),
        },
        "/apps/{app_id}/programs/{program}/{action}": {
            "parameters": [
                _APP_ID,
                {
                    "name": "program",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "a service name, group:process, or 'all'",
                },
                {
                    "name": "action",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["start", "stop", "restart"]},
                },
            ],
            "post": _op(
                "Start, stop or restart a program (queues program_action)",
                {"202": _queued(), "400": _ERROR, "404": _NOT_FOUND},
            ),
        },
        "/apps/{app_id}/programs": {
            "parameters": [_APP_ID],
            "post": _op(
                "Add a custom program (the panel's form; queues apply_services)",
                {"202": _queued({"service": _ref("Service")}), "400": _ERROR, "404": _NOT_FOUND},
                requestBody=_body(_ref("NewProgram")),
            ),
        },
        "/apps/{app_id}/programs/{name}": {
            "parameters": [_APP_ID, _NAME],
            "put": _op(
                "Replace a custom program's settings (left out: back at the default; a"
                " running program restarts; queues apply_services)",
                {"202": _queued({"service": _ref("Service")}), "400": _ERROR, "404": _NOT_FOUND},
                requestBody=_body(_ref("ProgramSettings")),
            ),
            "delete": _op(
                "Remove a custom program (it stops; queues apply_services)",
                {"202": _queued(), "404": _NOT_FOUND},
            ),
        },
        "/apps/{app_id}/services/{name}": {
            "parameters": [_APP_ID, _NAME],
            "patch": _op(
                "Change a service's settings, merged over its own (null: back at the default;"
                " GET /kinds lists each kind's; queues apply_services)",
                {"202": _queued({"service": _ref("Service")}), "400": _ERROR, "404": _NOT_FOUND},
                requestBody=_body({"type": "object", "additionalProperties": True}),
            ),
        },
        "/apps/{app_id}/spec": {
            "parameters": [_APP_ID],
            "get": _op(
                "The app as an app file (docs/APP_FILE.md); applying it changes nothing",
                {"200": _TOML_TEXT, "404": _NOT_FOUND},
            ),
            "post": _op(
                "Apply an app file: every change in one apply_services job (202), or none at"
                " all when nothing differs (200, job null)",
                {
                    "200": _json(_ref("SpecPlan"), "Nothing differs: no job"),
                    "202": _json(_ref("SpecPlan"), "Accepted: one job applies the changes"),
                    "400": _ERROR,
                    "404": _NOT_FOUND,
                },
                parameters=[_FILE_NAME],
                requestBody=_TOML_BODY,
            ),
        },
        "/apps/{app_id}/spec/preview": {
            "parameters": [_APP_ID],
            "post": _op(
                "What applying an app file would change, field by field (changes nothing)",
                {"200": _json(_ref("SpecPlan"), "The changes"), "400": _ERROR, "404": _NOT_FOUND},
                parameters=[_FILE_NAME],
                requestBody=_TOML_BODY,
            ),
        },
        "/apps/{app_id}/logs": {
            "parameters": [_APP_ID],
            "get": _op(
                "Read a log tail: the app's host reads it while you wait (no job, no audit"
                " record); 503 when it does not answer in time",
                {"200": _LOG, "400": _ERROR, "404": _NOT_FOUND, "503": _UNAVAILABLE},
                parameters=[
                    {"name": "program", "in": "query", "schema": {"type": "string"}},
                    {"name": "channel", "in": "query", "schema": _CHANNEL},
                    {"name": "bytes", "in": "query", "schema": _BYTES},
                ],
            ),
            "post": _op(
                "The same read, its parameters in a JSON body",
                {"200": _LOG, "400": _ERROR, "404": _NOT_FOUND, "503": _UNAVAILABLE},
                requestBody={
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                program={"type": "string", "default": "app"},
                                channel=_CHANNEL,
                                bytes=_BYTES,
                            )
                        }
                    }
                },
            ),
        },
        "/apps/{app_id}/jobs": {
            "parameters": [_APP_ID],
            "get": _op(
                "The app's job history and audit log, newest first",
                {
                    "200": _json(_obj(jobs={"type": "array", "items": _ref("Job")}), "Jobs"),
                    "404": _NOT_FOUND,
                },
            ),
        },
        "/jobs": {
            "get": _op(
                "The jobs you may see (all for an admin), newest first",
                {"200": _json(_obj(jobs={"type": "array", "items": _ref("Job")}), "Jobs")},
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    }
                ],
            ),
        },
        "/tokens": {
            "get": _op(
                "Your API tokens (their secrets are never shown again)",
                {"200": _json(_obj(tokens={"type": "array", "items": _ref("Token")}), "Tokens")},
            ),
        },
        "/tokens/{token_id}/revoke": {
            "parameters": [_path_int("token_id")],
            "post": _op(
                "Revoke one of your tokens (this one too: it is refused from the next request)",
                {"200": _json(_obj(token=_ref("Token")), "The token"), "404": _NOT_FOUND},
            ),
        },
        "/hosts": {
            "post": _op(
                "Add a host (admins; its workers listen on queue, default host.<name>)",
                {"201": _created("host", _obj(id=_INT, name=_STR, queue=_STR)), **_ADMIN_ERRORS},
                requestBody=_body(
                    _required(_obj(name=_STR, apps_root=_STR, queue=_STR), "name", "apps_root")
                ),
            ),
        },
        "/tenants": {
            "post": _op(
                "Add a tenant, a customer company (admins; slug made from the name by default)",
                {"201": _created("tenant", _ref("TenantRef")), **_ADMIN_ERRORS},
                requestBody=_body(_required(_obj(name=_STR, slug=_STR), "name")),
            ),
        },
        "/tenants/{tenant_id}/members": {
            "parameters": [_path_int("tenant_id")],
            "post": _op(
                "Make a user a member or owner of a tenant (admins)",
                {
                    "201": _created("member", _obj(email=_STR, role=_STR)),
                    **_ADMIN_ERRORS,
                    "404": _NOT_FOUND,
                },
                requestBody=_body(
                    _required(
                        _obj(email=_STR, role={"type": "string", "enum": ["owner", "member"]}),
                        "email",
                    )
                ),
            ),
        },
        "/users": {
            "post": _op(
                "Add a user (admins)",
                {"201": _created("user", _ref("User")), **_ADMIN_ERRORS},
                requestBody=_body(
                    _required(
                        _obj(email=_STR, password=_STR, is_admin={"type": "boolean"}),
                        "email",
                        "password",
                    )
                ),
            ),
        },
        "/users/{user_id}/active": {
            "parameters": [_path_int("user_id")],
            "post": _op(
                "Activate or deactivate a user (admins; deactivated: logged out everywhere,"
                " tokens refused)",
                {
                    "200": _json(_obj(user=_ref("User")), "The user"),
                    **_ADMIN_ERRORS,
                    "404": _NOT_FOUND,
                },
                requestBody=_body(_required(_obj(active={"type": "boolean"}), "active")),
            ),
        },
        "/jobs/{job_id}": {
            "parameters": [_JOB_ID],
            "get": _op(
                "A job's status, result, error and log tail",
                {"200": _json(_obj(job=_ref("Job")), "The job"), "404": _NOT_FOUND},
            ),
        },
        "/jobs/{job_id}/retry": {
            "parameters": [_JOB_ID],
            "post": _op(
                "Run a failed job again, as a new job titled 'Retry: ...' (e.g. after fixing"
                " what made an apply fail); 400 when the job did not fail",
                {"202": _queued(), "400": _ERROR, "404": _NOT_FOUND},
            ),
        },
    }
    error_schema = _obj(
        error=_obj(
            message={"type": "string"},
            field={"type": "string", "nullable": True},
            errors={
                "type": "array",
                "items": _obj(message=_STR, field=_STR),
                "description": "when several values were refused at once (an app file's):"
                " each of them, the first one also above",
            },
        )
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Hosting panel API",
            "version": "1",
            "description": "Manage apps, their services and programs. Every change is a job "
            "run by the app's host; poll /jobs/{job_id} until it is done or failed.",
        },
        "servers": [{"url": f"{server_url}/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "hst_... token from the panel",
                }
            },
            "responses": {
                "Error": _json(error_schema, "Invalid input; error.field names it"),
                "Unauthorized": _json(error_schema, "Missing, wrong or revoked token"),
                "NotFound": _json(error_schema, "No such thing, or not yours"),
                "Unavailable": _json(error_schema, "The app's host did not answer in time"),
                "Forbidden": _json(error_schema, "Only admins may do this"),
            },
            "schemas": {
                "History": _obj(
                    app=_INT,
                    limit=_INT,
                    more={"type": "boolean", "description": "older entries are kept"},
                    history={
                        "type": "array",
                        "items": _obj(
                            time={"type": "number", "description": "unix time"},
                            at={"type": "string", "format": "date-time"},
                            process={"type": "string", "description": "group:name"},
                            **{"from": _STR},
                            to=_STR,
                            reason=_STR,
                            description=_STR,
                            pid=_INT,
                            exitstatus=_INT,
                            signal=_STR,
                            requester={"type": "object"},
                            who={"type": "string", "nullable": True},
                            log_tail={
                                "type": "string",
                                "description": "the last lines written before an unexpected exit",
                            },
                        ),
                    },
                ),
                "TenantRef": _obj(
                    id={"type": "integer"}, slug={"type": "string"}, name={"type": "string"}
                ),
                "NewApp": {
                    **_obj(
                        name={
                            "type": "string",
                            "pattern": "^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$",
                        },
                        tech={"type": "string", "enum": list(TECHS)},
                        tenant={"type": "string", "description": "slug or id; optional with one"},
                        host={"type": "string", "description": "admins only; default least loaded"},
                        custom_command={"type": "string", "description": "custom apps only"},
                    ),
                    "required": ["name", "tech"],
                },
                "App": _obj(
                    id={"type": "integer"},
                    name={"type": "string"},
                    tech={"type": "string"},
                    tenant=_ref("TenantRef"),
                    host={"type": "string"},
                    root={"type": "string"},
                    created_at={"type": "string", "format": "date-time"},
                    status=_obj(
                        state={
                            "type": "string",
                            "enum": ["running", "partial", "stopped", "down", "unknown"],
                        },
                        running={"type": "integer"},
                        total={"type": "integer"},
                        runtime={"type": "string", "nullable": True},
                        error={"type": "string", "nullable": True},
                        runtime_state=_ref("RuntimeState"),
                    ),
                    services={"type": "array", "items": _ref("Service")},
                    apply=_ref("Apply"),
                    differences=_DIFFERENCES,
                ),
                "Service": _obj(
                    id={"type": "integer"},
                    name={"type": "string"},
                    kind={"type": "string"},
                    enabled={"type": "boolean", "description": "desired: what was asked"},
                    settings={"type": "object"},
                    desired={"type": "string", "enum": ["enabled", "disabled"]},
                    actual={
                        "type": "string",
                        "description": "what the runtime reports: running, stopped, fatal,"
                        " ..., 'not running' (absent) or 'unknown' (no status)",
                    },
                    differs={"type": "boolean", "description": "actual is not what was asked"},
                    summary={
                        "type": "string",
                        "example": "Memcached: wanted disabled, running; last apply failed: ...",
                    },
                ),
                "Apply": {
                    **_obj(
                        state={"type": "string", "enum": ["pending", "failed", "done"]},
                        job={"type": "string", "description": "its id; retry: /jobs/{id}/retry"},
                        title={"type": "string"},
                        error={"type": "string", "nullable": True},
                    ),
                    "nullable": True,
                    "description": "the app's last apply job (create_app, apply_services)",
                },
                "Process": _obj(
                    name={"type": "string"},
                    group={"type": "string"},
                    target={"type": "string"},
                    kind={"type": "string"},
                    state={"type": "string"},
                    pid={"type": "integer", "nullable": True},
                    uptime={"type": "integer", "nullable": True},
                    description={"type": "string"},
                ),
                "Status": _obj(
                    app={"type": "integer"},
                    state={"type": "string"},
                    running={"type": "integer"},
                    total={"type": "integer"},
                    runtime={"type": "string", "nullable": True},
                    error={"type": "string", "nullable": True},
                    runtime_state=_ref("RuntimeState"),
                    processes={"type": "array", "items": _ref("Process")},
                    services={"type": "array", "items": _ref("Service")},
                    apply=_ref("Apply"),
                    differences=_DIFFERENCES,
                    notices={"type": "array", "items": _ref("ConfigNotice")},
                ),
                "Usage": _obj(
                    range={"type": "string", "enum": ["hour", "day"]},
                    step={"type": "integer", "description": "seconds between points"},
                    t={
                        "type": "array",
                        "items": _INT,
                        "description": "the start of each point (unix seconds), oldest first",
                    },
                    app=_ref("UsageSeries"),
                    processes={
                        "type": "object",
                        "additionalProperties": _ref("UsageSeries"),
                        "description": "per program, by group:name",
                    },
                    marks={
                        "type": "array",
                        "items": _obj(
                            time={"type": "number"},
                            process={"type": "string", "example": "web:web"},
                            reason={"type": "string"},
                            **{"from": _STR, "to": _STR},
                        ),
                        "description": "(re)starts and unexpected exits within the range",
                    },
                ),
                "UsageSeries": {
                    **_obj(
                        cpu={
                            "type": "array",
                            "items": {"type": "number", "nullable": True},
                            "description": "percent of one core",
                        },
                        memory={
                            "type": "array",
                            "items": {"type": "integer", "nullable": True},
                            "description": "bytes (the app: its cgroup's working set; a"
                            " program: the resident memory of it and its descendants)",
                        },
                        memory_max={
                            "type": "array",
                            "items": {"type": "integer", "nullable": True},
                            "description": "day range only: the highest sample of each point",
                        },
                    ),
                    "description": "one value per time of t; null where nothing was measured",
                },
                "ConfigNotice": {
                    **_obj(
                        file={"type": "string"},
                        line={"type": "integer", "description": "0: not known"},
                        section={"type": "string"},
                        key={"type": "string"},
                        value={"type": "string"},
                        error={"type": "string"},
                    ),
                    "description": "A file of the tenant's that its runtime set aside at "
                    "its last read of the config, and why; the rest of the app runs.",
                },
                "RuntimeState": {
                    **_obj(
                        state={
                            "type": "string",
                            "description": "the host runtime's state of the app's runtime:"
                            " BACKOFF, FATAL, EXITED, STOPPED...",
                        },
                        cause={
                            "type": "string",
                            "description": "its spawn error or the last lines it wrote",
                        },
                    ),
                    "nullable": True,
                    "description": "why the app's runtime is down (null while it answers)",
                },
                "NewProgram": {
                    **_obj(name={"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"}),
                    "allOf": [_ref("ProgramSettings")],
                    "required": ["name", "command"],
                },
                "ProgramSettings": _obj(
                    command={"type": "string"},
                    numprocs={"type": "integer", "minimum": 1, "maximum": 16, "default": 1},
                    directory={"type": "string", "default": "app"},
                    environment={"type": "object", "additionalProperties": {"type": "string"}},
                    stopsignal={"type": "string", "enum": list(STOP_SIGNALS), "default": "TERM"},
                    stopwaitsecs={"type": "integer", "minimum": 1, "maximum": 3600, "default": 10},
                ),
                "SpecPlan": _obj(
                    changes={
                        "type": "array",
                        "items": _obj(
                            field={"type": "string", "example": "programs.worker.numprocs"},
                            action={"type": "string", "enum": ["changed", "added", "removed"]},
                            **{"from": {"nullable": True}, "to": {"nullable": True}},
                        ),
                    },
                    restarts={
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "programs whose processes stop and start again",
                    },
                    lines={
                        "type": "array",
                        "items": {"type": "string"},
                        "example": ["~ programs.worker.numprocs: 2 -> 4"],
                    },
                    job={**_ref("Job"), "nullable": True},
                ),
                "User": _obj(
                    id=_INT, email=_STR, is_admin={"type": "boolean"}, active={"type": "boolean"}
                ),
                "Token": _obj(
                    id={"type": "integer"},
                    name={"type": "string"},
                    prefix={"type": "string"},
                    created_at={"type": "string", "format": "date-time"},
                    last_used_at={"type": "string", "format": "date-time", "nullable": True},
                    revoked_at={"type": "string", "format": "date-time", "nullable": True},
                ),
                "Job": _obj(
                    id={"type": "string"},
                    kind={"type": "string"},
                    title={"type": "string", "description": "what it did: 'Enable Redis'"},
                    status={"type": "string", "enum": ["queued", "running", "done", "failed"]},
                    finished={"type": "boolean"},
                    arguments={"type": "object"},
                    app={"type": "integer", "nullable": True},
                    actor={"type": "string", "nullable": True},
                    created_at={"type": "string"},
                    started_at={"type": "string"},
                    finished_at={"type": "string"},
                    result={"nullable": True},
                    error={"type": "string", "nullable": True},
                    log_tail={"type": "string", "nullable": True},
                ),
            },
        },
    }
