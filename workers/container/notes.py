"""Small text files root keeps on /run about the namespaces it made (what a launch checks
before doing the work again): read whole or not at all."""

from __future__ import annotations

import os


def read_note(path: str) -> str | None:
    """The note's text, or None when there is none (or it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as note:
            return note.read()
    except (OSError, ValueError):
        return None


def write_note(path: str, text: str) -> None:
    """Written whole or not at all (a rename), its directory made root's alone if missing."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    partial = f"{path}.{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as note:
        note.write(text)
    os.replace(partial, path)
