"""The Prometheus text exposition format, version 0.0.4: just what GET /metrics writes.

A family is its ``# HELP`` and ``# TYPE`` lines, then its samples, together:
``name{label="value",...} number``. Label values escape backslash, double quote and
newline; HELP text escapes backslash and newline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A sample: (the label text made by ``labels``, or "", and the value).
Sample = tuple[str, float]


def escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(*pairs: tuple[str, str]) -> str:
    """``{a="x",b="y"}`` (values escaped), or "" for no labels."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs) + "}"


def number(value: float) -> str:
    if value.__class__ is int:  # the common case first: a page has thousands
        return str(value)
    if value - value == 0:  # finite (NaN and infinities give NaN)
        return repr(float(value))
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


class Exposition:
    """Families added one after the other; ``body()`` is the page."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        self._lines += [f"{name}{label_text} {number(value)}" for label_text, value in samples]

    def body(self) -> bytes:
        return ("\n".join(self._lines) + "\n").encode("utf-8")
