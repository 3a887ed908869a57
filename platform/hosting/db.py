"""Engines, sessions and schema migrations.

SQLite (the default, a file) and PostgreSQL (by URL) are both supported. On SQLite every
connection has foreign keys ON, WAL journaling and a busy timeout, and transactions start with
``BEGIN IMMEDIATE``: concurrent writers (panel, CLI, several workers) then queue for the write
lock instead of failing with "database is locked" when a read transaction tries to write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The largest row id every supported database holds (Integer keys: PostgreSQL's int4). An id
# past it names no row: callers answer "not found" instead of letting the driver overflow.
MAX_ID = 2**31 - 1
SQLITE_BUSY_TIMEOUT_SECONDS = 30

# Named constraints: Alembic's batch mode on SQLite recreates tables and must be able to
# name every constraint; PostgreSQL names then match what the migrations say.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def normalize_url(url: str) -> str:
    """Pick our drivers: ``postgres://`` and ``postgresql://`` mean psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(
    url: str,
    *,
    sqlite_begin: str = "IMMEDIATE",
    sqlite_foreign_keys: bool = True,
    sqlite_read_only: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``. ``sqlite_begin`` is the BEGIN mode on SQLite (IMMEDIATE,
    EXCLUSIVE or DEFERRED), ``sqlite_foreign_keys`` whether SQLite enforces foreign keys
    (only migrations turn it off) and ``sqlite_read_only`` whether its connections refuse
    every write (``PRAGMA query_only``); all are ignored on other databases."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        create_group_writable(Path(database))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **kwargs)
    _configure_sqlite(
        engine,
        begin=f"BEGIN {sqlite_begin}",
        wal=not in_memory,
        foreign_keys=sqlite_foreign_keys,
        read_only=sqlite_read_only,
    )
    if not in_memory:
        event.listen(engine, "connect", lambda *_: keep_private(Path(database)))
    return engine


def create_group_writable(database: Path) -> None:
    """Make a missing database file 0660 less the umask. SQLite would make it 0644 less the
    umask, which no umask turns group-writable, yet on a real host the workers (root) and the
    panel (the service account) share it through their group, with umask 007. SQLite takes an
    empty file as a new database, and gives its -wal and -shm files the file's mode."""
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o660))
    except FileExistsError:
        pass


def keep_private(database: Path) -> None:
    """Nobody but the platform's user (and group, which the roles share between the workers
    and the panel) may read the database: it holds every user's e-mail and password hash,
    token hashes and other tenants' log text. SQLite gives its -wal and -shm files the
    database file's mode."""
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o007:
            path.chmod(mode & ~0o007)


def make_read_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for what only reads. On SQLite its transactions are DEFERRED: they take no
    write lock, so a reader polling many times a second never makes a writer (a worker
    claiming a job) back off in SQLite's busy handler. A DEFERRED transaction that read and
    then writes fails whenever another connection wrote in between, so its connections also
    refuse every write: a write through it is an error at once, never a rare one under load."""
    return make_engine(url, sqlite_begin="DEFERRED", sqlite_read_only=True, **kwargs)


def _configure_sqlite(
    engine: Engine, *, begin: str, wal: bool, foreign_keys: bool, read_only: bool
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would only begin before DML, leaving
        # DDL and reads outside transactions); the "begin" hook below emits ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: rows stay readable after commit (jobs pass ids, but callers
    # often print what they just created).
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    """An Alembic Config for our migrations against ``url`` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not a main option: the ini layer would interpolate '%'
    # (URL-encoded passwords contain it).
    config.attributes["url"] = normalize_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (creating it if needed).

    Safe to call from several processes at once: on SQLite the migration runs in an
    exclusive transaction, on PostgreSQL Alembic's DDL is transactional.
    """
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The revision this release's migrations end at (what ``upgrade`` brings a database to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
