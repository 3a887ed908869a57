"""Errors raised by the hosting package; each names the input field at fault."""

from __future__ import annotations


class HostingError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInput(HostingError, ValueError):
    """A value supplied by a user or operator is refused; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        # Other values refused by the same check (see ``raise_all``): a form shows them all.
        self.more: list[InvalidInput] = []

    @property
    def every(self) -> list[InvalidInput]:
        """This error and the others found with it."""
        return [self, *self.more]


class ServiceSettingError(InvalidInput):
    """A service's setting (or its name/kind) is refused before anything is stored or written."""


def raise_all(errors: list[InvalidInput]) -> None:
    """Raise the first of ``errors`` (keeping its class, so callers catch it as before) with
    the rest in its ``more``; nothing when the list is empty."""
    found: dict[int, InvalidInput] = {}  # each error once, in order (some carry others)
    for error in errors:
        for each in error.every:
            found.setdefault(id(each), each)
    if found:
        first, *rest = found.values()
        first.more = rest
        raise first


class NotFound(HostingError, LookupError):
    """The row does not exist, or the user may not see it (we do not say which)."""
