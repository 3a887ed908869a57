"""One JSON line for the state stream, without the ``json`` package (issue 18).

Every tenant runtime has a state stream reader (the platform's feeder), so whatever writes
its lines stays imported for the daemon's life: ``json`` (with its decoder, scanner and
their compiled patterns) kept about 0.1 MiB in each. The stream's lines are plain data
(dicts with string keys, lists, strings, numbers, booleans, None), so this walk writes them
exactly as ``json.dumps(value, separators=(",", ":"))`` does, byte for byte
(tests/unit/test_json_line.py checks it against json for any such value and any string).
Strings go through the same C escaper json uses (``_json.encode_basestring_ascii``): every
character outside printable ASCII escaped, so the line is ASCII whatever a name holds.
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

try:
    from _json import encode_basestring_ascii as _string
except ImportError:  # a Python without json's C half: its pure-Python escaper
    from json.encoder import py_encode_basestring_ascii as _string

if TYPE_CHECKING:
    from typing import Any

_INFINITY = float("inf")


def encode(value: Any) -> bytes:
    """``value`` as one line of JSON, newline included."""
    parts: list[str] = []
    _write(value, parts)
    parts.append("\n")
    return "".join(parts).encode("ascii")


def _write(value: Any, parts: list[str]) -> None:
    kind = type(value)
    # The usual leaves first, by exact type (a snapshot of 500 processes is mostly these).
    if kind is str:
        parts.append(_string(value))
        return
    if kind is int:
        parts.append(int.__repr__(value))
        return
    # Then json's order: str, None, bool before int (True is an int), float.
    if isinstance(value, str):
        parts.append(_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))  # an IntEnum as its number, as json writes it
    elif isinstance(value, float):
        parts.append(_float(value))
    elif isinstance(value, dict):
        separator = "{"
        for key, item in value.items():
            # One piece per member where it can: a snapshot is mostly str and int members.
            name = _string(key if type(key) is str else _key(key))
            if type(item) is str:
                parts.append(f"{separator}{name}:{_string(item)}")
            elif type(item) is int:
                parts.append(f"{separator}{name}:{int.__repr__(item)}")
            else:
                parts.append(f"{separator}{name}:")
                _write(item, parts)
            separator = ","
        parts.append("}" if separator == "," else "{}")
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    """A dict key as json writes it: strings as they are, the scalars as their JSON text."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
