"""Settings read from the environment, with defaults that work on a developer's machine.

Environment variables: ``HOSTING_DATA_DIR`` (default ``./.run``), ``DATABASE_URL`` (default a
SQLite file ``<data dir>/hosting.db``), ``REDIS_URL`` (default the unix socket
``<data dir>/redis.sock``, as ``scripts/run`` starts it: the platform's Redis never listens on
TCP, where every tenant of a host could reach it)
``APPS_ROOT`` (default ``<data dir>/apps``) and ``HOSTING_HOST_ROOT``, this machine's host
runtime (default ``<data dir>/host``, where ``scripts/run`` makes it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "./.run"
REDIS_SOCKET = "redis.sock"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str
    apps_root: Path
    host_root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        # Absolute so that a later chdir (daemons, tests) does not move the database.
        data_dir = Path(env.get("HOSTING_DATA_DIR") or DEFAULT_DATA_DIR).absolute()
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'hosting.db'}",
            redis_url=env.get("REDIS_URL") or f"unix://{data_dir / REDIS_SOCKET}",
            apps_root=Path(env.get("APPS_ROOT") or data_dir / "apps").absolute(),
            host_root=Path(env.get("HOSTING_HOST_ROOT") or data_dir / "host").absolute(),
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Shortcut for ``Settings.from_env``."""
    return Settings.from_env(environ)
