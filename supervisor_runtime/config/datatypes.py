"""Value converters for config keys.

Each takes the text of a value and returns the typed value or raises ValueError whose text
is supervisord's own wording for the same mistake (users grep for those), except where
stock only leaks a raw Python message; there we say plainly what was expected.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import os
from collections.abc import Callable

from supervisor_runtime.config.model import LOG_LEVELS, AutoRestart, LogfileSpecial
from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


TRUTHY = ("yes", "true", "on", "1")
FALSY = ("no", "false", "off", "0")

# Byte-size suffixes, matched case-insensitively on the last two characters.
_SIZE_SUFFIXES = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}

# Every number the signal module names with a SIG prefix (including SIG_DFL=0 and SIG_IGN=1,
# which supervisord also accepts as numbers).
_SIGNAL_NUMBERS = frozenset(
    int(getattr(signal, attr)) for attr in dir(signal) if attr.startswith("SIG")
)

# Characters that would break namespecs ("group:process"), URLs or the listener protocol.
_NAME_FORBIDDEN = " :/"


def integer(text: str | int) -> int:
    try:
        return int(text)
    except (ValueError, TypeError):
        raise ValueError(f"not an integer: {text!r}") from None


def boolean(text: str | bool) -> bool:
    folded = str(text).lower()
    if folded in TRUTHY:
        return True
    if folded in FALSY:
        return False
    raise ValueError(f"not a valid boolean value: {text!r}")


def byte_size(text: str) -> int:
    """``1024``, ``10KB``, ``50MB``, ``1GB`` (any case) -> bytes."""
    folded = text.lower()
    suffix = folded[-2:]
    try:
        if suffix in _SIZE_SUFFIXES:
            return int(folded[:-2]) * _SIZE_SUFFIXES[suffix]
        return int(folded)
    except ValueError:
        raise ValueError(f"not a byte size (like 1024, 10KB, 50MB or 1GB): {text!r}") from None


def octal(text: str) -> int:
    try:
        return int(text, 8)
    except (TypeError, ValueError):
        raise ValueError(f"{text} can not be converted to an octal type") from None


def list_of_strings(text: str | None) -> list[str]:
    if not text:
        return []
    return [part.strip() for part in text.split(",")]


def exitcodes(text: str) -> tuple[int, ...]:
    """``0,2`` -> (0, 2); each an exit status 0..255. An empty value means none."""
    if not text:
        return ()
    try:
        codes = tuple(int(part) for part in text.split(","))
    except ValueError:
        codes = None
    if codes is None or any(code < 0 or code > 255 for code in codes):
        raise ValueError(f"not a valid list of exit codes: {text!r}")
    return codes


def key_value_pairs(text: str) -> dict[str, str]:
    """``A="1",B="2,3",C=x`` -> {"A": "1", "B": "2,3", "C": "x"}.

    Tokenised like supervisord: shell-like words where quotes keep commas and spaces, the
    pair separator may be any single token, and surrounding quotes are removed from values.
    Unquoted values may contain only letters, digits and ``_/.+-():``.
    """
    tokens = pair_tokens(str(text))  # may raise ValueError("No closing quotation")
    pairs: dict[str, str] = {}
    # Tokens come as KEY = VALUE <separator> KEY = VALUE ...
    for start in range(0, len(tokens), 4):
        triple = tokens[start : start + 3]
        if len(triple) != 3 or triple[1] != "=":
            raise ValueError(f"Unexpected end of key/value pairs in value '{text}'")
        pairs[triple[0]] = triple[2].strip("'\"")
    return pairs


# shlex.shlex's non-POSIX words, with the characters supervisord adds to them.
_WORD_CHARS = frozenset(
    "abcdfeghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" + "/.+-():"
)
_BLANKS = " \t\r\n"
_QUOTES = "'\""


def pair_tokens(text: str) -> list[str]:
    """``list(shlex.shlex(text))`` with ``wordchars += "/.+-():"``, as supervisord splits
    ``environment=``, without importing shlex (every tenant's app has an environment=, and
    the module would stay in each runtime). Non-POSIX rules: a word runs on over word
    characters and quotes; a quoted string is one token, quotes kept; ``#`` skips to the end
    of its line (inside a word too, which then goes on); any other character is a token of
    its own. tests/unit/config/test_datatypes.py checks it against shlex."""
    tokens: list[str] = []
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char in _BLANKS:
            index += 1
        elif char == "#":
            index = _after_comment(text, index)
        elif char in _QUOTES:
            close = text.find(char, index + 1)
            if close < 0:
                raise ValueError("No closing quotation")
            tokens.append(text[index : close + 1])
            index = close + 1
        elif char in _WORD_CHARS:
            pieces, start = [], index
            while index < end:
                char = text[index]
                if char in _WORD_CHARS or char in _QUOTES:
                    index += 1
                    continue
                pieces.append(text[start:index])
                if char == "#":
                    index = start = _after_comment(text, index)
                    continue
                if char in _BLANKS:
                    index += 1  # the blank ends the word
                start = -1
                break
            if start >= 0:
                pieces.append(text[start:index])
            tokens.append("".join(pieces))
        else:
            tokens.append(char)
            index += 1
    return tokens


def _after_comment(text: str, index: int) -> int:
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def name_to_uid(name: str) -> int:
    """A user name or numeric id that exists on this system -> uid."""
    import pwd  # only for user= (and the like): not kept by every daemon

    try:
        uid = int(name)
    except ValueError:
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            raise ValueError(f"Invalid user name {name}") from None
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise ValueError(f"Invalid user id {name}") from None
    return uid


def name_to_gid(name: str) -> int:
    import grp  # only for user= (and the like): not kept by every daemon

    try:
        gid = int(name)
    except ValueError:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            raise ValueError(f"Invalid group name {name}") from None
    try:
        grp.getgrgid(gid)
    except KeyError:
        raise ValueError(f"Invalid group id {name}") from None
    return gid


def gid_for_uid(uid: int) -> int:
    import pwd  # only for user= (and the like): not kept by every daemon

    return pwd.getpwuid(uid).pw_gid


def user_group(text: str) -> tuple[int, int]:
    """``user`` -> (uid, -1); ``user:group`` -> (uid, gid)."""
    user, sep, group = text.partition(":")
    try:
        uid = name_to_uid(user)
        gid = name_to_gid(group) if sep else -1
    except ValueError:
        raise ValueError(f"Invalid user:group definition {text}") from None
    return uid, gid


def port_number(text: str | int) -> int:
    port = integer(text)
    if port < 1:
        raise ValueError(f"{port!r} is below lower bound (1)")
    if port > 0xFFFF:
        raise ValueError(f"{port!r} is above upper bound (65535)")
    return port


def inet_address(text: str) -> tuple[str, int]:
    """``9001``, ``host:9001`` or ``*:9001`` -> (host, port); host "" means all interfaces."""
    host = ""
    if ":" in text:
        host, port_text = text.rsplit(":", 1)
        if not port_text:
            raise ValueError(f"no port number specified in {port_text!r}")
        port = port_number(port_text)
        host = host.lower()
    else:
        try:
            port = port_number(text)
        except ValueError:
            raise ValueError(f"not a valid port number: {text!r} ") from None
    if host == "*":
        host = ""
    return host, port


def existing_directory(text: str) -> str:
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        return path
    raise ValueError(f"{text} is not an existing directory")


def existing_dirpath(text: str) -> str:
    """A file path whose directory exists (a bare file name is always fine)."""
    path = os.path.expanduser(text)
    parent = os.path.dirname(path)
    if not parent or os.path.isdir(parent):
        return path
    raise ValueError(f"The directory named as part of the path {text} does not exist")


def logging_level(text: str) -> int:
    level = LOG_LEVELS.get(str(text).lower())
    if level is None:
        raise ValueError(f"bad logging level name {text!r}")
    return level


def url(text: str) -> str:
    from urllib.parse import urlparse  # rarely needed: 4 ms of every start-up otherwise

    parsed = urlparse(text)
    if parsed.scheme and (parsed.netloc or parsed.path):
        return text
    raise ValueError(f"value {text!r} is not a URL")


def signal_number(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``term`` or ``15`` -> 15."""
    try:
        number = int(text)
    except (ValueError, TypeError):
        name = text.strip().upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        value = getattr(signal, name, None)
        if value is None:
            raise ValueError(f"value {text!r} is not a valid signal name") from None
        number = int(value)
    if number not in _SIGNAL_NUMBERS:
        raise ValueError(f"value {text!r} is not a valid signal number")
    return number


def auto_restart(text: str) -> AutoRestart:
    folded = str(text.lower())
    if folded in TRUTHY:
        return AutoRestart.ALWAYS
    if folded in FALSY:
        return AutoRestart.NEVER
    if folded == "unexpected":
        return AutoRestart.UNEXPECTED
    raise ValueError(f"invalid 'autorestart' value {folded!r}")


# What logfile_name returns for the deprecated "syslog" file name; the loader turns it into
# logfile=None plus syslog=true and logs stock's deprecation warning.
SYSLOG = "syslog"


def logfile_name(text: str | LogfileSpecial) -> str | LogfileSpecial | None:
    """A child log target: NONE/OFF -> None, AUTO -> AUTO, SYSLOG -> "syslog", else a path
    whose directory exists."""
    if isinstance(text, LogfileSpecial):
        return text
    folded = text.lower()
    if folded in ("none", "off"):
        return None
    if folded == "auto":
        return LogfileSpecial.AUTO
    if folded == SYSLOG:
        return SYSLOG
    return existing_dirpath(text)


def reworded(converter: Callable[[str], T], label: str) -> Callable[[str], T]:
    """``converter`` whose error reads ``Invalid <label> value <text>``, as stock words
    errors of socket owners and modes."""

    def convert(text: str) -> T:
        try:
            return converter(text)
        except ValueError:
            raise ValueError(f"Invalid {label} value {text}") from None

    return convert


def process_or_group_name(text: str) -> str:
    name = str(text).strip()
    for character in _NAME_FORBIDDEN:
        if character in name:
            raise ValueError(f"Invalid name: {text!r} because of character: {character!r}")
    return name
