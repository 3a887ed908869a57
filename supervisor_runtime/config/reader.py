"""Typed, expanded access to one section, with errors that say where the bad value is."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.expand import expand
from supervisor_runtime.config.ini import IniParser
from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")
    # (key, type of the default, default, converter) -> the converted default.
    ConvertedDefaults = dict[tuple[str, type, object, Callable[[Any], Any]], Any]


class SectionReader:
    """Reads keys of ``section`` the way supervisord does.

    ``parser_names`` are the names every value may use (``ENV_*``); it is a live dict that
    the loader extends once [supervisord] environment= is known. Each read may add names of
    its own (``here``, ``program_name``, ``process_num`` ...), which win over parser names.
    """

    def __init__(
        self,
        ini: IniParser,
        section: str,
        path: str,
        parser_names: Mapping[str, str],
        converted_defaults: ConvertedDefaults | None = None,
    ) -> None:
        self.ini = ini
        self.section = section
        self.path = path
        self.parser_names = parser_names
        # Shared by the readers of one config load: an absent key's default converts the
        # same way in every section (500 programs read some 30 absent keys each).
        self.converted_defaults = converted_defaults

    def raw(self, key: str) -> str | None:
        """The value as written (after [DEFAULT] inheritance), or None if absent."""
        return self.ini.lookup(self.section, key.lower())

    def text(
        self,
        key: str,
        default: Any,
        names: Mapping[str, object] | None = None,
        *,
        expand_value: bool = True,
    ) -> Any:
        """The value (or ``default``), %-expanded when it is a string.

        A string default is expanded too, exactly like a written value would be.
        """
        value = self.raw(key)
        if value is None:
            value = default
        # Without a "%" there is nothing to expand (``value % names`` would return it as
        # is), and building the names is most of the cost of reading a section.
        if expand_value and isinstance(value, str) and "%" in value:
            combined: dict[str, object] = dict(self.parser_names)
            if names:
                combined.update(names)
            value = self.expand(key, value, combined, f"{self.section}.{key}")
        return value

    def expand(self, key: str, template: str, names: Mapping[str, object], label: str) -> str:
        try:
            return expand(template, names, label)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def convert(
        self,
        key: str,
        default: Any,
        converter: Callable[[Any], T],
        names: Mapping[str, object] | None = None,
    ) -> T:
        """The value converted with ``converter``; its ValueError becomes a ConfigError."""
        cache = self.converted_defaults
        if (
            cache is not None
            and isinstance(default, (str, int, float))  # bool is an int
            and not (isinstance(default, str) and "%" in default)
            and self.raw(key) is None
        ):
            memo = (key, type(default), default, converter)  # True and 1 are equal keys
            if memo not in cache:
                value = self.check(key, converter, default)
                try:
                    hash(value)  # only immutable results may be shared between sections
                except TypeError:
                    return value
                cache[memo] = value
            return cache[memo]
        return self.check(key, converter, self.text(key, default, names))

    def check(self, key: str, converter: Callable[[Any], T], value: Any) -> T:
        try:
            return converter(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(
            reason, path=self.path, section=self.section, key=key, value=self.raw(key)
        )

    def fail(self, reason: str) -> ConfigError:
        """An error about the section as a whole (a missing key, a bad combination)."""
        return ConfigError(reason, path=self.path, section=self.section)
