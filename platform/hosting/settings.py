"""The platform's settings: one source for hostingctl, the workers, the status poller and the
panel, whoever starts them and from wherever.

Keys: ``DATABASE_URL``, ``REDIS_URL`` (the platform's own Redis: a unix socket with a
password), ``HOSTING_DATA_DIR``, ``APPS_ROOT`` (default ``<data dir>/apps``) and
``HOSTING_HOST_ROOT``, this machine's host runtime (default ``<data dir>/host``).

Each is taken from the environment if set there, else from the **settings file**, the first
of these that exists:

1. ``$HOSTING_SETTINGS`` (a path; given but missing is an error, not a fall-through);
2. ``<data dir>/platform.env``, written by ``scripts/run``; the data dir is
   ``$HOSTING_DATA_DIR``, else the ``.run`` beside the virtualenv this code runs from
   (``scripts/run`` makes ``.venv`` and ``.run`` side by side in the checkout);
3. ``/etc/hosting/platform.env``, written by the roles (``platform_host``).

So an operator typing ``hostingctl ...`` as root, with no environment at all, reaches this
machine's platform. There is no built-in URL: with no Redis or database URL anywhere it is a
clear error naming the places looked at, never a guess such as ``redis://127.0.0.1:6379``
(on a host that is some tenant's port). The file holds ``KEY=value`` lines (shell quoting,
as the roles' env files; ``#`` comments) and only the keys above. Root reads it, so it must
be a regular file (no link followed) of root or of whoever reads it, writable by no one
else: otherwise whoever could write it would point root's jobs elsewhere.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hosting.errors import HostingError

SETTINGS_ENV = "HOSTING_SETTINGS"
SETTINGS_FILE = "platform.env"
SYSTEM_SETTINGS = Path("/etc/hosting") / SETTINGS_FILE
LOCAL_DATA_DIR_NAME = ".run"
SYSTEM_DATA_DIR = Path("/var/lib/hosting")
REDIS_SOCKET = "redis.sock"
KEYS = ("HOSTING_DATA_DIR", "DATABASE_URL", "REDIS_URL", "APPS_ROOT", "HOSTING_HOST_ROOT")
MAX_FILE_BYTES = 64 * 1024


class SettingsError(HostingError):
    """The platform's settings cannot be found or read; the message says where and why."""


def local_data_dir() -> Path:
    """``scripts/run``'s data dir: the ``.run`` beside the virtualenv we run from; outside a
    virtualenv, the roles' data dir."""
    if sys.prefix == sys.base_prefix:
        return SYSTEM_DATA_DIR
    return Path(sys.prefix).absolute().parent / LOCAL_DATA_DIR_NAME


def candidate_files(environ: Mapping[str, str]) -> list[Path]:
    """Where the settings file is looked for, in order (see the module doc)."""
    given = environ.get(SETTINGS_ENV)
    if given:
        return [Path(given)]
    data_dir = Path(environ["HOSTING_DATA_DIR"]) if environ.get("HOSTING_DATA_DIR") else None
    return [(data_dir or local_data_dir()) / SETTINGS_FILE, SYSTEM_SETTINGS]


def find_settings_file(environ: Mapping[str, str]) -> Path | None:
    candidates = candidate_files(environ)
    for path in candidates:
        if path.exists() or path.is_symlink():
            return path
    if environ.get(SETTINGS_ENV):
        raise SettingsError(f"{SETTINGS_ENV}={candidates[0]}: no such file")
    return None


def read_settings_file(path: Path) -> dict[str, str]:
    """The file's values, after checking who may have written it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror}; a link is refused)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError(f"{path}: not a regular file")
        if info.st_uid not in (0, os.geteuid()):
            raise SettingsError(f"{path}: belongs to uid {info.st_uid}, not root or us")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SettingsError(f"{path}: others may write it (mode {info.st_mode & 0o777:04o})")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SettingsError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    return parse_settings(path, data.decode("utf-8", errors="replace"))


def parse_settings(path: Path, text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path}, line {number}"
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}") from None
        if not words:
            continue
        key, sep, value = words[0].partition("=")
        if len(words) != 1 or not sep:
            raise SettingsError(f"{where}: write KEY=value (quoted as in a shell)")
        if key not in KEYS:
            raise SettingsError(f"{where}: unknown key {key!r}; known: {', '.join(KEYS)}")
        values[key] = value
    return values


def settings_text(values: Mapping[str, str]) -> str:
    """A settings file holding ``values`` (what ``scripts/run`` writes)."""
    lines = [f"{key}={shlex.quote(str(values[key]))}" for key in KEYS if values.get(key)]
    return "# The platform's settings (hosting.settings).\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str
    apps_root: Path
    host_root: Path
    source: str  # where they came from: the settings file, or "the environment"


def load_settings(
    environ: Mapping[str, str] | None = None, given: Mapping[str, str | None] | None = None
) -> Settings:
    """The settings from ``environ`` (default ``os.environ``) over the settings file;
    ``given`` (e.g. command-line options; None values ignored) wins over both."""
    env = os.environ if environ is None else environ
    path = find_settings_file(env)
    values = read_settings_file(path) if path is not None else {}
    values.update({key: env[key] for key in KEYS if env.get(key)})
    values.update({key: value for key, value in (given or {}).items() if value})
    source = str(path) if path is not None else "the environment"
    missing = [key for key in ("DATABASE_URL", "REDIS_URL") if not values.get(key)]
    if missing:
        looked = ", ".join(str(p) for p in candidate_files(env))
        where = f"in {path} or the environment" if path else f"(looked for {looked})"
        raise SettingsError(
            f"no platform settings: {' and '.join(missing)} not set {where}; "
            f"set {SETTINGS_ENV} to the platform's settings file, or the variables"
        )
    # Absolute so that a later chdir (daemons, tests) does not move anything.
    data_dir = Path(values.get("HOSTING_DATA_DIR") or local_data_dir()).absolute()
    return Settings(
        data_dir=data_dir,
        database_url=values["DATABASE_URL"],
        redis_url=values["REDIS_URL"],
        apps_root=Path(values.get("APPS_ROOT") or data_dir / "apps").absolute(),
        host_root=Path(values.get("HOSTING_HOST_ROOT") or data_dir / "host").absolute(),
        source=source,
    )
