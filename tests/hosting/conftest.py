"""The hosting tests need the [platform] extra (SQLAlchemy, Alembic). Without it they are left
out with a warning instead of breaking the collection of the whole suite."""

from __future__ import annotations

import importlib.util
import warnings

MISSING = [name for name in ("sqlalchemy", "alembic") if importlib.util.find_spec(name) is None]

if MISSING:
    collect_ignore_glob = ["*.py"]
    warnings.warn(
        f"tests/hosting not collected: {', '.join(MISSING)} missing;"
        " install with: pip install -e '.[platform,test]'",
        stacklevel=1,
    )
else:
    from tests.hosting.fixtures import *  # noqa: F403
