"""Fixtures for the workers tests: a real redis-server, a migrated SQLite database, and host
runtimes (our supervisord) running real RQ workers and tenant runtimes.

Everything lives under a short directory in /tmp (unix socket paths are limited to 107 bytes)
made traversable (0711) so that apps' users, when we are root, can reach their own roots.
"""

from __future__ import annotations

import importlib.util
import warnings

REQUIRED = ("sqlalchemy", "alembic", "redis", "rq")
MISSING = [name for name in REQUIRED if importlib.util.find_spec(name) is None]

if MISSING:
    collect_ignore_glob = ["*.py"]
    warnings.warn(
        f"tests/workers not collected: {', '.join(MISSING)} missing;"
        " install with: pip install -e '.[platform,test]'",
        stacklevel=1,
    )
else:
    from tests.workers.fixtures import *  # noqa: F403
