"""The app file: one app described in TOML (docs/APP_FILE.md), read and written back.

``read_spec`` turns a file's text into an ``AppSpec`` (its shape checked here; the values
are checked against the app by ``hosting.spec_plan``, with the catalog's own rules);
``spec_of`` describes an app as the database holds it, and ``spec_text`` writes a spec as a
file, so ``hostingctl export`` then ``apply`` of its output changes nothing.

Every error is a ``SpecError`` naming the file, the field (``programs.worker.numprocs``)
and the value.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hosting.errors import InvalidInput
from hosting.models import App

TOP_KEYS = ("name", "host", "tech", "environment", "app", "services", "programs")
DEPLOY_REFUSED = (
    "deploy hooks are not part of the app file: the platform has no deploy step to hang "
    "them on (see docs/APP_FILE.md, Deploy hooks)"
)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
ABSENT = object()


class SpecError(InvalidInput):
    """A value of an app file is refused: ``<file>: <field> = <value>: <why>``."""

    def __init__(self, source: str, field: str, value: Any, reason: str) -> None:
        shown = "" if value is ABSENT else f" = {toml_value(value)}"
        super().__init__(field, f"{source}: {field}{shown}: {reason}")

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Entry:
    """One service of the file: ``[app]``, ``[services.<name>]`` or ``[programs.<name>]``."""

    kind: str | None  # None: a service of the file whose kind the app's row says
    enabled: bool
    settings: dict[str, Any]


@dataclass(frozen=True)
class AppSpec:
    source: str  # the file's name, for messages ("app.toml", "request body")
    name: str | None = None
    host: str | None = None
    tech: str | None = None
    entries: dict[str, Entry] = field(default_factory=dict)  # by service name, "app" first

    def with_entry(self, name: str, entry: Entry, source: str) -> AppSpec:
        """This spec with service ``name`` as ``entry`` (a form's one change, say)."""
        return replace(self, source=source, entries={**self.entries, name: entry})


def file_field(name: str, kind: str | None, key: str = "") -> str:
    """Where service ``name``'s setting ``key`` is written in the file."""
    if name == "app":
        if key == "environment" or key.startswith("environment."):
            return key
        return f"app.{key}" if key else "app"
    table = f"programs.{name}" if kind == "custom" else f"services.{name}"
    return f"{table}.{key}" if key else table


def value_at(settings: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` (``environment.PORT``) in ``settings``, or absent."""
    value: Any = settings
    for part in key.split(".") if key else ():
        if not isinstance(value, Mapping) or part not in value:
            return ABSENT
        value = value[part]
    return value


# -- reading ---------------------------------------------------------------------------


def read_spec(text: str, source: str) -> AppSpec:
    """The spec in ``text`` (TOML); SpecError names the first thing wrong in its shape."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "file", ABSENT, f"not valid TOML: {exc}") from None
    if "deploy" in data:
        raise SpecError(source, "deploy", ABSENT, DEPLOY_REFUSED)
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(source, key, ABSENT, f"unknown key; known: {', '.join(TOP_KEYS)}")
    name = _string(source, data, "name")
    if name is not None and "/" in name:
        host, _, name = name.rpartition("/")
    else:
        host = None
    host = _string(source, data, "host") or host
    app_settings = dict(_table(source, data, "app"))
    if "environment" in app_settings:
        raise SpecError(source, "app.environment", ABSENT, "write it as [environment]")
    environment = _table(source, data, "environment")
    if environment:
        app_settings["environment"] = dict(environment)
    entries: dict[str, Entry] = {"app": Entry("app", True, app_settings)}
    for table, kind in (("services", None), ("programs", "custom")):
        for entry_name, body in _table(source, data, table).items():
            where = f"{table}.{entry_name}"
            if not isinstance(body, dict):
                raise SpecError(source, where, body, "must be a table ([" + where + "])")
            if entry_name == "app":
                raise SpecError(source, where, ABSENT, "the main program's settings are [app]")
            if entry_name in entries:
                raise SpecError(source, where, ABSENT, "named in [services] and [programs]")
            entries[entry_name] = _entry(source, where, kind, body)
    return AppSpec(source, name, host, _string(source, data, "tech"), entries)


def _entry(source: str, where: str, kind: str | None, body: dict[str, Any]) -> Entry:
    settings = dict(body)
    enabled = settings.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecError(source, f"{where}.enabled", enabled, "must be true or false")
    given_kind = settings.pop("kind", None)
    if given_kind is not None:
        if kind == "custom":
            raise SpecError(source, f"{where}.kind", given_kind, "programs are custom; no kind")
        if not isinstance(given_kind, str):
            raise SpecError(source, f"{where}.kind", given_kind, "must be a string")
        kind = given_kind
    return Entry(kind, enabled, settings)


def _string(source: str, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise SpecError(source, key, value, "must be a string")
    return value


def _table(source: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(source, key, value, f"must be a table ([{key}])")
    return value


# -- an app as a spec ----------------------------------------------------------------------


def spec_of(app: App) -> AppSpec:
    """The app as the database holds it: each service's own settings (not the defaults)."""
    entries: dict[str, Entry] = {}
    for service in sorted(app.services, key=lambda s: (s.kind != "app", s.kind == "custom")):
        kind = service.kind
        entries[service.name] = Entry(kind, service.enabled, dict(service.settings or {}))
    return AppSpec("the app", app.name, app.host.name, app.tech, entries)


# -- writing -------------------------------------------------------------------------------


def spec_text(spec: AppSpec) -> str:
    """``spec`` as an app file (what ``hostingctl export`` prints)."""
    lines = ["# An app file (docs/APP_FILE.md): hostingctl apply -f FILE"]
    for key in ("name", "host", "tech"):
        value = getattr(spec, key)
        if value is not None:
            lines.append(f"{key} = {toml_value(value)}")
    app = spec.entries.get("app")
    if app is not None:
        settings = dict(app.settings)
        environment = settings.pop("environment", None)
        if environment:
            lines += ["", "[environment]", *_pairs(environment)]
        if settings:
            lines += ["", "[app]", *_pairs(settings)]
    for name, entry in spec.entries.items():
        if name == "app":
            continue
        settings = dict(entry.settings)
        if entry.kind != "custom" and entry.kind != name:
            settings = {"kind": entry.kind, **settings}
        if not entry.enabled:
            settings = {"enabled": False, **settings}
        environment = settings.pop("environment", None)
        table = file_field(name, entry.kind)
        lines += ["", f"[{_dotted(table)}]", *_pairs(settings)]
        if environment:
            lines += ["", f"[{_dotted(table)}.environment]", *_pairs(environment)]
    return "\n".join(lines) + "\n"


def _pairs(settings: Mapping[str, Any]) -> list[str]:
    return [f"{_key(key)} = {toml_value(value)}" for key, value in settings.items()]


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _dotted(path: str) -> str:
    table, _, rest = path.partition(".")
    return f"{table}.{_key(rest)}" if rest else table


def toml_value(value: Any) -> str:
    """A TOML literal of ``value`` (strings, numbers, booleans, lists, inline tables). JSON's
    string escapes (``\\"``, ``\\\\``, ``\\n``, ``\\uXXXX``) are TOML's too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if value is None:
        return "(none)"  # TOML has no null: a default of none, shown in diffs, never written
    return json.dumps(str(value), ensure_ascii=False)
