"""Checks and escaping for values that end up in generated supervisord config.

Everything a user types passes through here before it is stored or rendered. The threats are
those of an ini file read by supervisord: a newline (or any control character) starts a new
line, so a new section; ``[``/``]`` are section syntax; a ``;`` or ``#`` after whitespace starts
an inline comment and silently cuts the value; ``%`` is supervisord's expansion syntax
(``%(ENV_X)s`` would leak the daemon's environment); and in ``environment=`` the quoting rules
of supervisord's key/value lexer apply. Paths must stay inside the app's root.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from hosting.errors import ServiceSettingError

PROGRAM_NAME_RE = re.compile(r"[a-z0-9_-]{1,40}")
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PATH_RE = re.compile(r"[A-Za-z0-9._/-]+")
ROOT_RE = re.compile(r"/[A-Za-z0-9._/-]*")
MAX_VALUE_CHARS = 4096
MAX_ENV_ENTRIES = 100
# A unix socket path must fit sockaddr_un.sun_path (108 bytes with the final NUL).
MAX_SOCKET_PATH_BYTES = 107
_COMMENT_AFTER_BLANK = re.compile(r"\s[;#]")


def fail(field: str, message: str) -> ServiceSettingError:
    return ServiceSettingError(field, message)


def text_value(field: str, value: Any, *, allow_empty: bool = False) -> str:
    """A single-line string that is safe as an ini value (before ``%`` escaping)."""
    if not isinstance(value, str):
        raise fail(field, f"must be a string, not {type(value).__name__}")
    if len(value) > MAX_VALUE_CHARS:
        raise fail(field, f"is longer than {MAX_VALUE_CHARS} characters")
    if not value.isprintable():
        bad = next(char for char in value if not char.isprintable())
        raise fail(field, f"must not contain control characters such as {bad!r} (newline, NUL)")
    if "[" in value or "]" in value:
        raise fail(field, "must not contain '[' or ']' (config section syntax)")
    if "%(" in value:
        raise fail(field, "must not contain '%(': supervisord would expand it")
    if _COMMENT_AFTER_BLANK.search(value):
        raise fail(field, "must not contain ';' or '#' after a space (it starts a comment)")
    if value != value.strip():
        raise fail(field, "must not start or end with whitespace")
    if not value and not allow_empty:
        raise fail(field, "must not be empty")
    return value


def escape_percent(value: str) -> str:
    """Escape ``%`` for the fields supervisord expands (command, environment, ...)."""
    return value.replace("%", "%%")


def program_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not PROGRAM_NAME_RE.fullmatch(value):
        raise fail(field, f"{value!r} is not a valid name: use 1 to 40 of a-z, 0-9, '_', '-'")
    return runtime_name(field, value)


def runtime_name(field: str, value: str) -> str:
    """The one rule for names the runtime and ``supervisorctl`` read as one program or group
    (programs, and apps, whose runtimes are the host's ``tenant-<app>`` programs): a name
    that would be misread could never be addressed alone. ``all`` means every program to
    supervisorctl and to our program actions; ``:`` splits ``group:process``; the runtime's
    own parser refuses ``:``, ``/`` and blanks in names; a leading ``-`` is an option to
    ``supervisorctl tail`` (``tail -100``)."""
    if value == "all":
        raise fail(field, "'all' is reserved: it means every program (supervisorctl's too)")
    for character in ": /\t":
        if character in value:
            raise fail(field, f"{value!r} must not contain {character!r} (the runtime's names)")
    if value.startswith("-"):
        raise fail(field, f"{value!r} must not start with '-': supervisorctl reads an option")
    return value


def command(field: str, value: Any) -> str:
    """A command line as supervisord splits it (shell-like words, no shell involved)."""
    value = text_value(field, value)
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise fail(field, f"cannot be split into words: {exc}") from None
    if not words:
        raise fail(field, "must name a program to run")
    return value


def integer(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise fail(field, "must be a whole number, not true/false")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int):
        raise fail(field, f"must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise fail(field, f"must be between {low} and {high}, not {value}")
    return value


def port(field: str, value: Any) -> int:
    # Below 1024 needs root; tenants' programs never run as root.
    return integer(field, value, 1024, 65535)


def boolean(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
        return False
    raise fail(field, f"must be true or false, not {value!r}")


def choice(field: str, value: Any, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        raise fail(field, f"must be one of {', '.join(options)}; got {value!r}")
    return value


def name_list(field: str, value: Any, pattern: re.Pattern[str], limit: int = 20) -> list[str]:
    """A list of names, given as a list or as a string separated by spaces or commas."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list | tuple) or not value:
        raise fail(field, "must be a non-empty list of names")
    if len(value) > limit:
        raise fail(field, f"has more than {limit} entries")
    for item in value:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise fail(field, f"{item!r} is not a valid name (allowed: {pattern.pattern})")
    return list(value)


def environment(field: str, value: Any) -> dict[str, str]:
    """Environment variables: valid names, values that supervisord can read back intact."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(field, "must be a mapping of variable names to values")
    if len(value) > MAX_ENV_ENTRIES:
        raise fail(field, f"has more than {MAX_ENV_ENTRIES} variables")
    result: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise fail(field, f"{key!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            raw = str(raw)
        entry = f"{field}.{key}"
        result[key] = text_value(entry, raw, allow_empty=True)
        _quote_env_value(entry, result[key])
    return result


def _quote_env_value(field: str, value: str) -> str:
    """``value`` quoted for ``environment=``.

    supervisord reads environment= with a non-POSIX shlex: inside quotes nothing is escaped
    (a backslash is literal, the same quote ends the word), and surrounding quote characters
    are stripped from each value. So: double quotes, or single quotes when the value holds a
    double quote; refuse values holding both kinds, or starting/ending with one.
    """
    if value[:1] in ("'", '"') or value[-1:] in ("'", '"'):
        raise fail(field, "must not start or end with a quote character")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise fail(field, "must not contain both single and double quotes")


def format_environment(env: Mapping[str, str]) -> str:
    """``KEY="value",...`` with ``%`` escaped, ready for an environment= line."""
    parts = [f"{key}={_quote_env_value(key, escape_percent(val))}" for key, val in env.items()]
    return ",".join(parts)


def app_root(value: Any) -> str:
    """An app root: absolute, plain characters, short enough for its sockets."""
    field = "app_root"
    if not isinstance(value, str | os.PathLike):
        raise fail(field, f"must be a path, not {type(value).__name__}")
    text = os.fspath(value)
    if not ROOT_RE.fullmatch(text) or ".." in PurePosixPath(text).parts:
        raise fail(field, f"{text!r} must be absolute and use only A-Z a-z 0-9 . _ / -")
    text = os.path.normpath(text)
    if len(f"{text}/run/supervisor.sock".encode()) > MAX_SOCKET_PATH_BYTES:
        raise fail(field, f"{text!r} is too long for its runtime's unix socket path")
    return text


def path_value(field: str, value: Any) -> str:
    """A user path as stored: relative to the app root, or absolute (``confine`` then checks
    it against the root, which is only known when rendering)."""
    value = text_value(field, value)
    if not PATH_RE.fullmatch(value):
        raise fail(field, f"{value!r} may only use A-Z a-z 0-9 . _ / -")
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise fail(field, f"{value!r} must not contain '..'")
    return value


def confine(field: str, root: str, value: str) -> str:
    """The absolute path of ``value`` (relative to ``root``, or absolute inside it), refusing
    anything that leaves the root, also through symlinks that already exist."""
    value = path_value(field, value)
    path = PurePosixPath(value)
    candidate = path if path.is_absolute() else PurePosixPath(root) / path
    lexical = PurePosixPath(os.path.normpath(candidate))
    if not lexical.is_relative_to(root):
        raise fail(field, f"{value!r} is outside the app's root {root}")
    # realpath resolves every symlink that exists along the way and keeps the rest as is.
    real_root = os.path.realpath(root)
    real = os.path.realpath(lexical)
    if not PurePosixPath(real).is_relative_to(real_root):
        raise fail(field, f"{value!r} leads outside the app's root (through a symlink)")
    return str(lexical)


def socket_path(field: str, path: str) -> str:
    if len(path.encode()) > MAX_SOCKET_PATH_BYTES:
        raise fail(field, f"socket path {path!r} is longer than {MAX_SOCKET_PATH_BYTES} bytes")
    return path
