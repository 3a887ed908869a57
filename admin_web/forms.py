"""WTForms classes (Flask-WTF adds the CSRF token to each) and the mapping of hosting's
``InvalidInput.field`` onto form fields, so an error shows next to the input it is about."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from hosting.catalog import STOP_SIGNALS, TECHS
from hosting.errors import InvalidInput
from hosting.models import ROLES
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)])


class CustomProgramForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=40)])
    command = StringField("Command", validators=[DataRequired(), Length(max=4096)])
    directory = StringField("Working directory", validators=[Optional(), Length(max=4096)])
    environment = TextAreaField(
        "Environment",
        validators=[Optional(), Length(max=16384)],
        description="One NAME=value per line.",
    )
    stopsignal = SelectField("Stop signal", choices=list(STOP_SIGNALS), default="TERM")
    stopwaitsecs = IntegerField(
        "Stop wait (s)", validators=[Optional(), NumberRange(1, 3600)], default=10
    )
    numprocs = IntegerField("Processes", validators=[Optional(), NumberRange(1, 16)], default=1)

    def validate_environment(self, field: TextAreaField) -> None:
        try:
            parse_environment(field.data or "")
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None

    def settings(self) -> dict[str, Any]:
        """The hosting settings this form describes (empty inputs keep the defaults). An
        environment that does not parse is left out: its field shows why."""
        settings: dict[str, Any] = {"command": (self.command.data or "").strip()}
        if self.directory.data and self.directory.data.strip():
            settings["directory"] = self.directory.data.strip()
        try:
            environment = parse_environment(self.environment.data or "")
        except InvalidInput:
            environment = {}
        if environment:
            settings["environment"] = environment
        if self.stopsignal.data and self.stopsignal.data != "TERM":
            settings["stopsignal"] = self.stopsignal.data
        if self.stopwaitsecs.data is not None and self.stopwaitsecs.data != 10:
            settings["stopwaitsecs"] = self.stopwaitsecs.data
        if self.numprocs.data is not None and self.numprocs.data != 1:
            settings["numprocs"] = self.numprocs.data
        return settings

    def fill(self, name: str, settings: dict[str, Any]) -> None:
        self.name.data = name
        self.command.data = settings.get("command", "")
        self.directory.data = settings.get("directory", "")
        env = settings.get("environment") or {}
        self.environment.data = "\n".join(f"{key}={value}" for key, value in env.items())
        self.stopsignal.data = settings.get("stopsignal", "TERM")
        self.stopwaitsecs.data = settings.get("stopwaitsecs", 10)
        self.numprocs.data = settings.get("numprocs", 1)


def labelled(value: str, label: str) -> Any:
    """A select option whose label differs from its value (SelectChoice where WTForms has
    it: tuples are deprecated there)."""
    try:
        from wtforms import SelectChoice
    except ImportError:  # WTForms < 3.3
        return (value, label)
    return SelectChoice(value, label)


def parse_environment(text: str) -> dict[str, str]:
    environment: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput("environment", f"line {number}: write NAME=value, not {line!r}")
        environment[key.strip()] = value.strip()
    return environment


class NewAppForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=40)])
    tech = SelectField("Technology", choices=list(TECHS), default="python")
    custom_command = StringField("Command (custom apps)", validators=[Optional(), Length(max=4096)])
    tenant = SelectField("Company", choices=[])
    host = SelectField("Host", choices=[])


class HostForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    apps_root = StringField("Apps root", validators=[DataRequired(), Length(max=255)])
    queue = StringField("Queue (default host.<name>)", validators=[Optional(), Length(max=64)])


class TenantForm(FlaskForm):
    name = StringField("Company name", validators=[DataRequired(), Length(max=200)])
    slug = StringField("Slug (optional)", validators=[Optional(), Length(max=64)])


class MemberForm(FlaskForm):
    email = EmailField("User e-mail", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=list(ROLES), default="member")


class UserForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=1024)])
    is_admin = BooleanField("Administrator")


def attach_error(form: FlaskForm, error: InvalidInput) -> None:
    """Show ``error``, and every other error found with it (``error.every``), each next to
    the field it names."""
    attach_errors(form, error.every)


def attach_errors(
    form: FlaskForm, errors: Iterable[InvalidInput], *, beside_others: bool = True
) -> None:
    """Show each error next to the field it names (``environment.PORT`` -> environment); one
    about no field of the form goes to the form's own list. ``beside_others=False`` leaves
    out errors for a field that shows one already (the same mistake, told twice)."""
    for each in errors:
        field = form._fields.get(each.field.split(".", 1)[0])
        if field is None:
            form.form_errors.append(f"{each.field}: {each.message}")
        elif beside_others or not field.errors:
            field.errors = [*list(field.errors or ()), each.message]


def has_errors(form: FlaskForm) -> bool:
    return bool(form.form_errors) or any(field.errors for field in form)
