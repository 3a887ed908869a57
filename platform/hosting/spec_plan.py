"""What applying an app file would change: field by field, checked with the catalog's rules.

``plan(app, spec)`` compares each service the file names with the app's row of that name
(what the platform runs: the database's desired state, which every apply makes the
runtime's) and returns the ``Change`` of each field that differs, and the ``Step`` of each
service to change. Values are compared with the kind's defaults filled in, so a file that
writes a default (``stopwaitsecs = 10``) and an app that leaves it unset are the same.

Every value is checked before anything is changed (name, kind, settings, the rendered
text) and all errors are raised at once, each naming the file, field and value;
``hosting.commands.apply_spec`` then carries the steps out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hosting import services
from hosting.app_spec import ABSENT, AppSpec, Entry, SpecError, file_field, toml_value, value_at
from hosting.catalog import TOGGLE_KINDS, ServiceSpec, get_kind
from hosting.errors import InvalidInput, raise_all
from hosting.models import App, Service
from hosting.rendering import render_service


@dataclass(frozen=True)
class Change:
    """One field that differs: ``programs.worker.numprocs: 2 -> 4``."""

    field: str
    action: str  # "changed", "added" (a whole service), "removed" (a whole service)
    old: Any = None
    new: Any = None

    def text(self) -> str:
        if self.action == "added":
            return f"+ {self.field}: added{_summary(self.new)}"
        if self.action == "removed":
            return f"- {self.field}: removed"
        return f"~ {self.field}: {toml_value(self.old)} -> {toml_value(self.new)}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "action": self.action, "from": self.old, "to": self.new}


def _summary(settings: Any) -> str:
    if not settings:
        return ""
    return " (" + ", ".join(f"{k} = {toml_value(v)}" for k, v in settings.items()) + ")"


@dataclass(frozen=True)
class Step:
    """One service to change: added (``service`` None), removed (``entry`` None), or both."""

    name: str
    kind: str
    service: Service | None
    entry: Entry | None
    settings: dict[str, Any]  # the entry's settings, cleaned
    settings_differ: bool

    @property
    def restarts(self) -> bool:
        """Whether its running processes stop and start again (the runtime's update
        restarts a changed program; an added one only starts, a removed one only stops)."""
        return (
            self.service is not None
            and self.entry is not None
            and self.service.enabled
            and self.entry.enabled
            and self.settings_differ
        )


@dataclass(frozen=True)
class Plan:
    spec: AppSpec
    changes: tuple[Change, ...]
    steps: tuple[Step, ...]

    @property
    def restarts(self) -> list[str]:
        return [step.name for step in self.steps if step.restarts]

    def lines(self) -> list[str]:
        """The changes as a person reads them, then what restarts."""
        lines = [change.text() for change in self.changes]
        if self.restarts:
            lines.append(f"restarts: {', '.join(self.restarts)}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [change.as_dict() for change in self.changes],
            "restarts": self.restarts,
        }

    @contextmanager
    def errors_in_file(self, step: Step) -> Iterator[None]:
        """An InvalidInput raised while carrying ``step`` out (a port taken, say) as a
        SpecError naming the file's field."""
        try:
            yield
        except SpecError:
            raise
        except InvalidInput as exc:
            raise _in_file(self.spec, step.name, step.kind, step.entry, exc) from None


def _in_file(
    spec: AppSpec, name: str, kind: str, entry: Entry | None, error: InvalidInput
) -> SpecError:
    key = "" if error.field in ("name", "settings", "kind") else error.field
    value = value_at(entry.settings, key) if entry is not None and key else ABSENT
    if error.field == "name":
        value = name
    return SpecError(spec.source, file_field(name, kind, key), value, error.message)


def plan(app: App, spec: AppSpec) -> Plan:
    """Every change ``spec`` asks of ``app``; SpecError (all of them) when a value is bad."""
    errors: list[InvalidInput] = list(_identity_errors(app, spec))
    current = {service.name: service for service in app.services}
    changes: list[Change] = []
    steps: list[Step] = []
    for name, entry in spec.entries.items():
        service = current.get(name)
        try:
            kind = _kind_of(spec, name, entry, service)
            settings = _checked(app, spec, name, kind, entry)
        except InvalidInput as exc:
            errors.extend(exc.every)
            continue
        if service is None:
            added = settings if entry.enabled else {"enabled": False, **settings}
            changes.append(Change(file_field(name, kind), "added", new=added))
            steps.append(Step(name, kind, None, entry, settings, True))
            continue
        differ = _compare(app, name, kind, service.settings, settings)
        switched = service.enabled != entry.enabled
        if switched:
            field = file_field(name, kind, "enabled")
            changes.append(Change(field, "changed", service.enabled, entry.enabled))
        changes.extend(differ)
        if differ or switched:
            steps.append(Step(name, kind, service, entry, settings, bool(differ)))
    for name, service in current.items():
        if name in spec.entries:
            continue
        kind = service.kind
        if kind == "custom":  # a program the file leaves out is removed
            changes.append(Change(file_field(name, kind), "removed", old=service.settings))
            steps.append(Step(name, kind, service, None, {}, False))
        elif service.enabled:  # a service left out is off (the panel never removes one)
            changes.append(Change(file_field(name, kind, "enabled"), "changed", True, False))
            steps.append(Step(name, kind, service, None, {}, False))
    raise_all(errors)
    # Removals and switching off first: they free the ports and names the others may take.
    steps.sort(key=lambda step: step.entry is not None and step.entry.enabled)
    return Plan(spec, tuple(changes), tuple(steps))


def _identity_errors(app: App, spec: AppSpec) -> Iterator[SpecError]:
    """The file must be about this app: its name, host and tech (fixed at creation)."""
    for key, actual in (("name", app.name), ("host", app.host.name), ("tech", app.tech)):
        given = getattr(spec, key)
        if given is not None and given != actual:
            what = "tech is fixed when an app is created" if key == "tech" else "another app?"
            yield SpecError(spec.source, key, given, f"app {app.name}'s {key} is {actual}: {what}")


def _kind_of(spec: AppSpec, name: str, entry: Entry, service: Service | None) -> str:
    where = file_field(name, entry.kind)
    if service is not None:
        in_programs = entry.kind == "custom"
        if entry.kind not in (None, service.kind) or in_programs != (service.kind == "custom"):
            noun = "a custom program" if service.kind == "custom" else f"a {service.kind} service"
            table = file_field(name, service.kind)
            reason = f"the app has {name!r} as {noun}: write it as [{table}]"
            raise SpecError(spec.source, where, ABSENT, reason)
        return service.kind
    kind = entry.kind or name
    if kind != "custom" and kind not in TOGGLE_KINDS:
        allowed = ", ".join(TOGGLE_KINDS)
        raise SpecError(
            spec.source, where, ABSENT, f"no such service; a file adds only {allowed} services"
        )
    return kind


def _checked(app: App, spec: AppSpec, name: str, kind: str, entry: Entry) -> dict[str, Any]:
    """The entry's settings cleaned, after the catalog's checks and a render."""
    errors = services.input_errors(app, kind, name, entry.settings)
    if not errors:
        settings = get_kind(kind).clean(entry.settings, app.tech)
        try:
            render_service(
                app.root, ServiceSpec(kind, name, settings, app.tech, app.custom_command)
            )
        except InvalidInput as exc:
            errors = exc.every
    raise_all([_in_file(spec, name, kind, entry, error) for error in errors])
    return settings


def _compare(
    app: App, name: str, kind: str, old: dict[str, Any], new: dict[str, Any]
) -> list[Change]:
    service_kind = get_kind(kind)
    try:
        before = service_kind.effective(old, app.tech)
    except InvalidInput:  # a row the catalog no longer accepts: compare what is stored
        before = dict(old)
    after = service_kind.effective(new, app.tech)
    return list(_differences(name, kind, before, after))


def _differences(
    name: str, kind: str, before: dict[str, Any], after: dict[str, Any], prefix: str = ""
) -> Iterator[Change]:
    """Each key that differs; a table (environment) key by key."""
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            yield from _differences(name, kind, old, new, f"{prefix}{key}.")
        else:
            yield Change(file_field(name, kind, f"{prefix}{key}"), "changed", old, new)
