"""Input the database or the JSON parser cannot hold, refused before it reaches them: an id
in a URL past the largest row id (``hosting.db.MAX_ID``) is a 404 like any absent row, not
an overflow in the driver; JSON nested deeper than the parser recurses is a ``ValueError``
(so a 400), not a ``RecursionError``."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hosting.db import MAX_ID
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a whole number from 0 to ``MAX_ID``; any other is a 404.

    NotFound rather than werkzeug's ValidationError: the matcher checks the method before
    the converter, so a rejected id on a path that another rule serves with other methods
    (``DELETE /api/v1/apps/<id>`` beside ``GET``) would come out as 405. No two of our rules
    differ only by the type of an id, so no other rule is skipped by ending the match here."""

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound(f"no row has the id {value[:40]}: ids go up to {MAX_ID}")
        return number


class JSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("it is nested too deeply") from None


def init_app(app: Flask) -> None:
    """Before any blueprint: rules pick their converter when they are added."""
    app.url_map.converters["int"] = IdConverter
    app.json = JSONProvider(app)
