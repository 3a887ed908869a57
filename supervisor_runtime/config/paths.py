"""Path spelling shared by the daemon's and supervisorctl's config readers."""

from __future__ import annotations

import os


def normalize_path(text: str) -> str:
    """Absolute, normalised, with ~ expanded: how supervisord stores every configured path."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(text)))
