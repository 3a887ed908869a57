"""What a tenant may read of the host's words: no path of the host but its own /srv."""

from __future__ import annotations

import re

_HOST_PATH = re.compile(r"(?<![\w/])/(?!srv\b)[^\s'\":,;)]+")


def tenant_safe(text: str) -> str:
    """``text`` with every absolute path but the tenant's own (/srv...) replaced by
    ``<path>``: an unexpected error's words, or a runtime's, may name files of the host."""
    return _HOST_PATH.sub("<path>", text)
