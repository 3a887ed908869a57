"""Config notices: an [include]d file set aside by ``skip_broken``, and why.

Kept apart from the parser so supervisorctl can word a notice the daemon sent without
loading the parser: the daemon logs ``describe(notice)``, supervisorctl prints it after
``notice: ``, the platform stores the struct.
"""

from __future__ import annotations

from collections.abc import Mapping

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any


class ConfigNotice(NamedTuple):
    """Why ``file`` was set aside. XML-RPC has no null: "" and 0 mean "not known"."""

    file: str
    error: str  # what is wrong, without the where (that is in the other fields)
    line: int = 0
    section: str = ""
    key: str = ""
    value: str = ""

    def as_struct(self) -> dict[str, Any]:
        """The XML-RPC struct (supervisor.getConfigNotices)."""
        return self._asdict()


MAX_VALUE_CHARS = 80


def describe(notice: Mapping[str, Any]) -> str:
    """One line: ``<file> set aside: line 6, [program:x] numprocs = 'l': not an integer``."""
    where = []
    if notice.get("line"):
        where.append(f"line {notice['line']}")
    if notice.get("section"):
        where.append(f"[{notice['section']}]")
    if notice.get("key"):
        value = str(notice.get("value", ""))
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS] + "..."
        where.append(f"{notice['key']} = {value!r}")
    place = f": {' '.join(where)}" if where else ""
    return f"included file {notice.get('file', '?')} set aside{place}: {notice.get('error', '')}"
