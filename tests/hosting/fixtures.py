"""Fixtures for the hosting tests (loaded by conftest.py): databases on SQLite and PostgreSQL.

``database_url`` is empty (for migration tests); ``migrated_url`` and ``session`` are at the
newest revision. On PostgreSQL a migrated template database is made once per session and
copied for ``migrated_url``; ``session`` shares one database and rolls back after each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hosting import db
from sqlalchemy.orm import Session

from tests.hosting import postgres

BACKENDS = ["sqlite", "postgresql"]
TEMPLATE = "hosting_template"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    reason = postgres.unavailable_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    cluster = postgres.start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: postgres.Cluster) -> str:
    db.upgrade(pg_cluster.create_database(TEMPLATE))
    return TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "hosting.db"
    db.upgrade(f"sqlite:///{path}")  # the last connection closing folds the WAL back in
    return path


def migrated_sqlite(template: Path, directory: Path) -> str:
    path = directory / "hosting.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hosting.db'}"
    cluster: postgres.Cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database()


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest revision on each backend."""
    if request.param == "sqlite":
        return migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
    cluster: postgres.Cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(template=request.getfixturevalue("pg_template"))


def _session_for(url: str) -> Iterator[Session]:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture(scope="session")
def pg_shared_url(pg_cluster: postgres.Cluster, pg_template: str) -> str:
    return pg_cluster.create_database(template=pg_template)


@pytest.fixture(params=BACKENDS)
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """A session on a migrated database of each backend. On PostgreSQL all tests share one
    database and each runs inside a transaction rolled back at the end (its commits only
    release savepoints), which keeps the tests fast."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        yield from _session_for(migrated_sqlite(template, tmp_path))
        return
    engine = db.make_engine(request.getfixturevalue("pg_shared_url"))
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
        engine.dispose()


@pytest.fixture
def sqlite_session(sqlite_template: Path, tmp_path: Path) -> Iterator[Session]:
    """A migrated SQLite session, for tests that need no second backend."""
    yield from _session_for(migrated_sqlite(sqlite_template, tmp_path))


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap scrypt for tests that create users but do not test hashing (hashes record their
    cost, so they still verify)."""
    monkeypatch.setattr("hosting.passwords.N", 2**8)
