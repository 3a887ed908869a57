"""The one exception the config package raises, with enough context to find the bad line."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that supervisord would refuse to run with.

    The message names what is wrong and where: file, section, key and the value as written.
    The structured parts are kept as attributes so callers (the panel's validator, reread)
    can show them without parsing the message. The CLI prefixes ``Error: `` like stock.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        section: str | None = None,
        key: str | None = None,
        value: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.line = line  # where the INI reader stopped (not in the message: stock's has it)
        self.path = path
        self.section = section
        self.key = key
        self.value = value
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = ""
        if self.section is not None:
            where = f" in section [{self.section}]"
            if self.path is not None:
                where += f" of {self.path}"
        elif self.path is not None:
            where = f" in {self.path}"
        if self.key is not None:
            shown = "" if self.value is None else f" ({_shown(self.value)})"
            return f"invalid value for {self.key}{shown}{where}: {self.reason}"
        return f"{self.reason}{where}"


MAX_SHOWN_CHARS = 200


def _shown(value: str) -> str:
    """The value as written; a huge one (a 10 MiB command=) by its start and its length."""
    if len(value) <= MAX_SHOWN_CHARS:
        return repr(value)
    return f"{value[:MAX_SHOWN_CHARS]!r}... ({len(value)} characters)"
