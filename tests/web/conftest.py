"""The panel's tests need the [platform] extra (Flask, SQLAlchemy, redis, rq) and Debian's
redis-server; without them they are left out with a warning instead of breaking collection."""

from __future__ import annotations

import importlib.util
import shutil
import warnings

MISSING = [
    name
    for name in ("flask", "flask_login", "flask_wtf", "sqlalchemy", "alembic", "redis", "rq")
    if importlib.util.find_spec(name) is None
]
if shutil.which("redis-server") is None:
    MISSING.append("redis-server (apt-get install redis-server)")

if MISSING:
    collect_ignore_glob = ["*.py"]
    warnings.warn(
        f"tests/web not collected: {', '.join(MISSING)} missing;"
        " install with: pip install -e '.[platform,test]'",
        stacklevel=1,
    )
else:
    from tests.web.fixtures import *  # noqa: F403
