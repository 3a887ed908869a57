"""The ``hostingctl`` command's entry point: ``workers.cli`` behind a check for its extra.

The runtime's commands need nothing but the standard library, so the wheel installs without
the ``platform`` extra; ``hostingctl`` needs it (SQLAlchemy, redis, rq...). Without it,
the user gets one line saying what to install instead of an import traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# The top-level modules of the ``platform`` extra's distributions (pyproject.toml).
PLATFORM_MODULES = frozenset(
    {"sqlalchemy", "alembic", "redis", "rq", "flask", "flask_login", "flask_wtf", "wtforms",
     "werkzeug", "jinja2", "gunicorn", "psycopg"}
)  # fmt: skip
MISSING_EXTRA = (
    "hostingctl: the 'platform' extra is not installed (no module named {module!r}); "
    "install it with: pip install 'hosting-platform[platform]'"
)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from workers.cli import main as cli_main
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in PLATFORM_MODULES:
            raise
        print(MISSING_EXTRA.format(module=top), file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
