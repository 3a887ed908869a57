"""The one writer of supervisord ``[program:x]`` text.

Everything that emits a program section goes through ``program_section``: the catalog's
services (``catalog.ProgramSection``), the host runtime's workers, status poller and front
(``workers.host``, which ``hostingctl host-config`` runs for the Ansible roles), the tenant
runtimes (``workers.tenants``), the one-machine launcher's Redis and panel, and the roles'
own programs (``hostingctl program-file``). Its check is the last line of defence against
config injection: a value that slipped through validation must not start a new line, and so
a new section, in a file a runtime reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from hosting.errors import ServiceSettingError

# A line break or NUL would end the value early and let the rest be read as new lines.
LINE_BREAKERS = "\r\n\x00"


def program_section(name: str, options: Iterable[tuple[str, str]]) -> str:
    """``[program:<name>]`` and one ``key=value`` line per option, in order, each ending in a
    newline. Values are written as they are: escaping ``%`` (supervisord's expansion syntax)
    is the caller's business, since some values mean to use expansions."""
    if not name or "]" in name:
        raise ServiceSettingError("name", f"{name!r} cannot name a [program:x] section")
    lines = [f"[program:{name}]", *(f"{key}={value}" for key, value in options)]
    for line in lines:
        if any(char in line for char in LINE_BREAKERS):
            raise ServiceSettingError("settings", f"line {line!r} would break the config")
    return "\n".join(lines) + "\n"
