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


class ServiceSettingError(InvalidInput):
    """A service's setting (or its name/kind) is refused before anything is stored or written."""


class NotFound(HostingError, LookupError):
    """The row does not exist, or the user may not see it (we do not say which)."""
