"""Models and migrations, on SQLite and on PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hosting import db, services
from hosting.models import ApiToken, App, Host, Job, Membership, Service, Tenant, User
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

TABLES = {
    "hosts",
    "tenants",
    "users",
    "memberships",
    "api_tokens",
    "apps",
    "services",
    "jobs",
    "platform_instance",
}


def head_revision() -> str:
    return ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()


def table_names(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_and_is_idempotent(database_url: str) -> None:
    assert db.current_revision(database_url) is None
    db.upgrade(database_url)
    db.upgrade(database_url)  # at head already: nothing to do, no error
    assert db.current_revision(database_url) == head_revision()
    assert table_names(database_url) >= TABLES


def test_migrations_match_the_models(migrated_url: str) -> None:
    engine = db.make_engine(migrated_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(migrated_url: str) -> None:
    db.downgrade(migrated_url, "base")
    assert not TABLES & table_names(migrated_url)
    db.upgrade(migrated_url)
    assert table_names(migrated_url) >= TABLES


def test_concurrent_upgrades_of_one_sqlite_file(tmp_path: Path) -> None:
    """Panel, CLI and workers all migrate at start; on SQLite they must take turns."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = f"from hosting import db; db.upgrade({url!r})"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(4)
    ]
    errors = [proc.communicate(timeout=60)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, errors
    assert db.current_revision(url) == head_revision()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_postgres_urls_use_psycopg() -> None:
    assert db.normalize_url("postgresql://u:p%40x@h/d").startswith("postgresql+psycopg://")
    assert db.normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalize_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.fixture(autouse=True)
def _cheap_hashes(fast_passwords: None) -> None:
    """populate() creates a user; hashing cost is tested elsewhere."""


def populate(session: Session) -> App:
    host = services.create_host(session, "h1", "/srv/apps")
    tenant = services.create_tenant(session, "Acme s.r.o.")
    user = services.create_user(session, "Owner@Acme.example", "correct horse")
    services.add_member(session, tenant, user, "owner")
    app = services.create_app(session, tenant, host, "shop", "python")
    services.add_service(session, app, "redis")
    services.record_job(session, "apply", {"app_id": app.id}, app=app, user=user)
    session.commit()
    return app


def test_rows_round_trip(session: Session) -> None:
    app = populate(session)
    session.expunge_all()
    loaded = session.scalars(select(App).where(App.id == app.id)).one()
    assert loaded.tenant.slug == "acme-s-r-o"
    assert loaded.host.queue == "host.h1"
    assert loaded.root == "/srv/apps/shop/srv"
    assert [(s.kind, s.name, s.enabled) for s in loaded.services] == [
        ("app", "app", True),
        ("redis", "redis", True),
    ]
    job = session.scalars(select(Job)).one()
    assert job.arguments == {"app_id": app.id}
    assert job.status == "queued" and job.attempts == 0 and job.actor == "user:owner@acme.example"
    assert job.result is None and job.created_at is not None
    user = session.scalars(select(User)).one()
    assert user.email == "owner@acme.example" and user.memberships[0].role == "owner"


def test_an_app_id_is_never_handed_out_again(session: Session) -> None:
    """App ids name the apps' system users: a new app must never get a deleted one's."""
    app = populate(session)
    tenant, host, deleted = app.tenant, app.host, app.id
    session.delete(app)
    session.commit()
    again = services.create_app(session, tenant, host, "shop", "python")
    session.commit()
    assert again.id > deleted


def test_each_platform_has_an_instance_id_of_its_own(tmp_path: Path) -> None:
    from hosting.identities import instance_id, user_prefix

    ids = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / name}.db"
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.make_session_factory(engine)() as session:
            ids.append(instance_id(session))
        engine.dispose()
    assert ids[0] != ids[1] and all(len(found) == 32 for found in ids)
    assert user_prefix(ids[0]) == f"t{ids[0][:6]}-"


def test_the_sqlite_file_is_never_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "hosting.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text("select 1"))
    engine.dispose()
    assert path.stat().st_mode & 0o777 == 0o640


def test_job_result_none_is_sql_null_and_json_survives(session: Session) -> None:
    app = populate(session)
    job = services.record_job(session, "x", {"ids": [1, 2], "flag": True, "name": "é"}, app=app)
    services.finish_job(session, job.id, result={"states": {"app": "RUNNING"}})
    session.commit()
    session.expunge_all()
    stored = session.get(Job, job.id)
    assert stored.arguments == {"ids": [1, 2], "flag": True, "name": "é"}
    assert stored.result == {"states": {"app": "RUNNING"}}
    nulls = session.execute(text("SELECT count(*) FROM jobs WHERE result IS NULL")).scalar()
    assert nulls == 1  # the first job's result: SQL NULL, not the JSON 'null'


@pytest.mark.parametrize(
    "row",
    [
        lambda s: Host(name="h1", queue="other", apps_root="/x"),  # duplicate name
        lambda s: User(email="owner@acme.example", password_hash="x"),  # duplicate email
        lambda s: App(tenant_id=1, host_id=1, name="shop", tech="python"),  # dup on host
        lambda s: App(tenant_id=1, host_id=1, name="other", tech="cobol"),  # tech check
        lambda s: App(tenant_id=1, host_id=999, name="other", tech="python"),  # no such host
        lambda s: Service(app_id=1, kind="redis", name="redis", settings={}),  # dup in app
        lambda s: Job(kind="x", arguments={}, status="lost"),  # status check
        lambda s: Membership(user_id=1, tenant_id=1, role="god"),  # role check
    ],
)
def test_constraints_hold_in_the_database(session: Session, row: object) -> None:
    populate(session)
    session.add(row(session))  # type: ignore[operator]
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_deletes_cascade_or_keep_the_audit_trail(session: Session) -> None:
    app = populate(session)
    user = session.scalars(select(User)).one()
    from hosting.tokens import create_token

    create_token(session, user, "ci")
    session.commit()
    # Database-level ON DELETE actions (not ORM cascades): delete with plain SQL.
    session.execute(text("DELETE FROM apps WHERE id = :id"), {"id": app.id})
    session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    session.commit()
    session.expunge_all()
    assert session.scalars(select(Service)).all() == []
    assert session.scalars(select(Membership)).all() == []
    assert session.scalars(select(ApiToken)).all() == []
    job = session.scalars(select(Job)).one()
    assert (job.app_id, job.user_id, job.kind) == (None, None, "apply")
    assert session.scalars(select(Tenant)).one().slug == "acme-s-r-o"


def test_revision_0005_titles_jobs_and_drops_log_reads(database_url: str) -> None:
    """Jobs gain a stored title; the read_log rows of before (log reads are no jobs now)
    go, every other row stays."""
    db.upgrade(database_url, "0002")
    engine = db.make_engine(database_url)
    try:
        with engine.begin() as connection:
            for job_id, kind in (("j-apply", "apply_services"), ("j-read", "read_log")):
                connection.execute(
                    text(
                        "INSERT INTO jobs (id, kind, arguments, status, attempts, created_at)"
                        " VALUES (:id, :kind, '{}', 'done', 1, CURRENT_TIMESTAMP)"
                    ),
                    {"id": job_id, "kind": kind},
                )
        db.upgrade(database_url, "0005")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, title FROM jobs")).all()
        assert [tuple(row) for row in rows] == [("j-apply", None)]
    finally:
        engine.dispose()


def test_a_new_sqlite_database_is_group_writable_under_umask_007(tmp_path: Path) -> None:
    """The roles' workers (root) and panel (the service account) share the database through
    their group with umask 007: whichever opens it first, the others can write it and its
    -wal and -shm files."""
    path = tmp_path / "hosting.db"
    old = os.umask(0o007)
    try:
        db.upgrade(f"sqlite:///{path}")
        engine = db.make_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            connection.execute(text("select 1"))
            modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("hosting.db*")}
        engine.dispose()
    finally:
        os.umask(old)
    assert modes == {"hosting.db": 0o660, "hosting.db-wal": 0o660, "hosting.db-shm": 0o660}
