"""One ``[program:x]`` file, written through ``hosting.program_section``: what ``hostingctl
program-file`` does for the Ansible roles (the host runtime under the system runtime, a
prefix's Redis and the panel in the host runtime's ``conf/platform.d``), so no role writes
program sections by hand.

The options come as ``KEY=VALUE`` arguments or as JSON on standard input (an object, or a
list of ``[key, value]`` pairs, in the order they are to be written), so that values with
spaces, quotes or secrets need no shell quoting and never show on a command line. Before
anything is written:

- every key must be one supervisord reads in a ``[program:x]`` section: the runtime ignores
  any other, so a misspelt key would otherwise go unnoticed;
- the text is read back with the runtime's INI reader: each value must come back exactly as
  given (a ``;`` or ``#`` after a blank would start a comment, blanks at either end would
  be dropped);
- the file is parsed by the runtime's own parser (``supervisor_runtime.config.load_config``)
  in a scratch config that includes it, so a bad value is refused with the key it is for.

The file is then replaced atomically (``workers.files.atomic_write``) only when its text
differs; a mode or owner that differs is set on the file in place. Nothing is written in
check mode: the answer says whether anything would change.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hosting.errors import InvalidInput, ServiceSettingError
from hosting.program_section import LINE_BREAKERS, program_section

from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.ini import IniParser
from workers.files import atomic_write, parse_here

# Every key supervisord 4.3 reads in a [program:x] section (supervisor_runtime.config.programs).
PROGRAM_KEYS = frozenset(
    {
        "command",
        "process_name",
        "numprocs",
        "numprocs_start",
        "priority",
        "autostart",
        "startsecs",
        "startretries",
        "autorestart",
        "exitcodes",
        "stopsignal",
        "stopwaitsecs",
        "stopasgroup",
        "killasgroup",
        "user",
        "redirect_stderr",
        "environment",
        "directory",
        "umask",
        "serverurl",
        *(
            f"{channel}_{suffix}"
            for channel in ("stdout", "stderr")
            for suffix in (
                "logfile",
                "logfile_maxbytes",
                "logfile_backups",
                "capture_maxbytes",
                "events_enabled",
                "syslog",
            )
        ),
    }
)
DEFAULT_MODE = 0o600
_MODE_RE = re.compile(r"0?[0-7]{3,4}")

Options = list[tuple[str, str]]


@dataclass(frozen=True)
class ProgramFile:
    """What one program file should be: its text, mode and (when given) owner."""

    path: Path
    text: str
    mode: int = DEFAULT_MODE
    owner: tuple[int, int] | None = None  # (uid, gid); None: whoever writes it


# -- the options ------------------------------------------------------------------------------


def options_from_json(text: str) -> Options:
    """``{"key": value, ...}`` or ``[["key", value], ...]``; values are strings, integers
    or true/false (written as supervisord spells them)."""
    try:
        # Objects become lists of pairs: their order is kept, and so are repeated keys.
        data = json.loads(text, object_pairs_hook=list)
    except json.JSONDecodeError as exc:
        raise InvalidInput("options", f"not JSON: {exc}") from None
    if not isinstance(data, list):
        raise InvalidInput("options", "give an object or a list of [key, value] pairs")
    pairs = []
    for item in data:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise InvalidInput("options", f"{item!r} is not a [key, value] pair")
        pairs.append((item[0], _option_value(item[0], item[1])))
    return check_options(pairs)


def options_from_arguments(arguments: Iterable[str]) -> Options:
    """``KEY=VALUE`` arguments (the value may hold further ``=``)."""
    pairs = []
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep:
            raise InvalidInput("options", f"{argument!r} is not KEY=VALUE")
        pairs.append((key, value))
    return check_options(pairs)


def _option_value(key: str, value: object) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise InvalidInput(key, f"{value!r}: a value must be a string, an integer or true/false")


def check_options(pairs: Sequence[tuple[str, str]]) -> Options:
    """The pairs, once each key is known to supervisord and given only once."""
    seen: set[str] = set()
    for key, _value in pairs:
        if key not in PROGRAM_KEYS:
            raise InvalidInput(key, "not a key supervisord reads in a [program:x] section")
        if key in seen:
            raise InvalidInput(key, "given more than once")
        seen.add(key)
    return list(pairs)


# -- the text ---------------------------------------------------------------------------------


def program_file_text(name: str, options: Options, comments: Sequence[str] = ()) -> str:
    """``; <comment>`` lines (a managed header), then ``program_section(name, options)``."""
    for comment in comments:
        if any(char in comment for char in LINE_BREAKERS):
            raise InvalidInput("comment", f"{comment!r} would break the config")
    header = "".join(f"; {comment}".rstrip() + "\n" for comment in comments)
    try:
        return header + program_section(name, check_options(options))
    except ServiceSettingError as exc:
        # Name the key whose value would start a new line (program_section names the line).
        key = next((k for k, v in options if any(c in v for c in LINE_BREAKERS)), exc.field)
        raise InvalidInput(key, exc.message) from None


def check_text(name: str, options: Options, text: str, path: Path | str) -> None:
    """InvalidInput naming the key when the runtime would read a value other than the one
    given, or would refuse the program: its own parser, in a scratch config that includes
    the text (messages name ``path``, where the file is going)."""
    ini = IniParser()
    try:
        ini.read_text(text, str(path))
    except ConfigError as exc:
        raise InvalidInput("options", str(exc)) from None
    section = f"program:{name}"
    for key, value in options:
        read = ini.lookup(section, key)
        if read != value:
            raise InvalidInput(
                key,
                f"{value!r} would be read as {read!r} (a ';' or '#' after a blank starts a "
                "comment; blanks at either end are dropped)",
            )
    with tempfile.TemporaryDirectory(prefix="hosting-program-") as scratch:
        conf = Path(scratch)
        (conf / "program.conf").write_text(text, encoding="utf-8")
        (conf / "supervisord.conf").write_text(
            "[supervisord]\n"
            f"logfile = {scratch}/supervisord.log\n"
            f"pidfile = {scratch}/supervisord.pid\n"
            "[include]\n"
            "files = program.conf\n",
            encoding="utf-8",
        )
        message = parse_here()(conf)
    if message is not None:
        message = message.replace(f"{scratch}/program.conf", str(path))
        raise InvalidInput(_key_named(message, options) or section, message)


def _key_named(message: str, options: Options) -> str | None:
    """The key a parser message is about ("invalid value for <key> ...")."""
    match = re.match(r"invalid value for (\S+)", message)
    if match and any(key == match.group(1) for key, _value in options):
        return match.group(1)
    return None


# -- mode and owner ---------------------------------------------------------------------------


def parse_mode(text: str) -> int:
    if not _MODE_RE.fullmatch(text):
        raise InvalidInput("mode", f"{text!r} is not an octal mode like 0644")
    return int(text, 8)


def parse_owner(text: str) -> tuple[int, int]:
    """``USER[:GROUP]`` (names or numbers); the user's own group when none is given."""
    user, _sep, group = text.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        raise InvalidInput("owner", f"no user {user!r}") from None
    if not group:
        return entry.pw_uid, entry.pw_gid
    try:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise InvalidInput("owner", f"no group {group!r}") from None
    return entry.pw_uid, gid


# -- the file ---------------------------------------------------------------------------------


def write_program_file(wanted: ProgramFile, *, check: bool = False) -> bool:
    """Make the file ``wanted``: its text replaced atomically when it differs, its mode and
    owner set when they differ. Returns whether anything changed (or would: ``check``
    writes nothing)."""
    path = wanted.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        if not path.is_symlink():
            raise InvalidInput("path", f"cannot read {path}: {exc.strerror}") from None
        fd = None  # a link is replaced, never followed
    if fd is None:
        return _replace(wanted, check)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput("path", f"{path} is not a regular file")
        if handle.read().decode("utf-8", errors="replace") != wanted.text:
            return _replace(wanted, check)
        mode_differs = stat.S_IMODE(info.st_mode) != wanted.mode
        owner = wanted.owner
        owner_differs = owner is not None and (info.st_uid, info.st_gid) != owner
        if check or not (mode_differs or owner_differs):
            return mode_differs or owner_differs
        try:
            if owner is not None and owner_differs:
                os.fchown(handle.fileno(), *owner)
            os.fchmod(handle.fileno(), wanted.mode)
        except OSError as exc:
            message = f"cannot set the mode or owner of {path}: {exc.strerror}"
            raise InvalidInput("path", message) from None
    return True


def _replace(wanted: ProgramFile, check: bool) -> bool:
    if not check:
        try:
            atomic_write(wanted.path, wanted.text, wanted.mode, wanted.owner)
        except OSError as exc:
            raise InvalidInput("path", f"cannot write {wanted.path}: {exc.strerror}") from None
    return True


def program_file(
    path: str | os.PathLike[str],
    name: str,
    options: Options,
    *,
    comments: Sequence[str] = (),
    mode: int = DEFAULT_MODE,
    owner: tuple[int, int] | None = None,
    check: bool = False,
) -> bool:
    """Check and write one program file (``hostingctl program-file``); returns whether it
    changed (or would)."""
    text = program_file_text(name, options, comments)
    check_text(name, options, text, path)
    return write_program_file(ProgramFile(Path(path), text, mode, owner), check=check)
