"""Ours: readiness and health words in ``supervisorctl status``.

A process that declares a check or depends_on gets the server's words after its
description: ``RUNNING   pid 12, uptime 0:00:05, ready``. Only the end of the line
changes, so scripts that read the state column or the pid still do; every other
process's line, and every line from a stock server (which has no runtime.* methods),
stays byte for byte stock's.
"""

from __future__ import annotations

from typing import Any


def with_health_words(infos: list[dict[str, Any]], health: Any) -> list[dict[str, Any]]:
    """``infos`` (getAllProcessInfo) with the ``status`` words of ``health``
    (runtime.getAllProcessHealth, or a fault struct from a server without it) added."""
    if not isinstance(health, list):
        return infos
    words = {
        (item.get("group"), item.get("name")): item.get("status")
        for item in health
        if isinstance(item, dict)
    }
    shown = []
    for info in infos:
        extra = words.get((info.get("group"), info.get("name")))
        if extra and isinstance(extra, str):
            description = info.get("description") or ""
            info = {**info, "description": f"{description}, {extra}" if description else extra}
        shown.append(info)
    return shown
