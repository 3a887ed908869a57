"""Alembic environment: our metadata, and the URL from the caller or from the settings.

``hosting.db.upgrade(url)`` passes the URL as ``config.attributes["url"]``; the ``alembic``
command line (``alembic -c platform/hosting/alembic.ini ...``) falls back to the platform's
settings (``hosting.settings``: DATABASE_URL).
"""

from __future__ import annotations

from alembic import context

from hosting import models  # noqa: F401  (registers the tables on the metadata)
from hosting.db import Base, make_engine, normalize_url
from hosting.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return normalize_url(url or load_settings().database_url)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    # On SQLite: one EXCLUSIVE transaction, so two processes upgrading at once take turns
    # (the second then finds the database at head); and no foreign key enforcement while
    # batch mode copies tables, which would otherwise cascade deletes.
    engine = make_engine(url, sqlite_begin="EXCLUSIVE", sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection, connection.begin():
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=_is_sqlite(url),
                transactional_ddl=True,
                compare_type=True,
            )
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
