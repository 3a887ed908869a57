"""The tables: hosts, tenants and their members, users, API tokens and login sessions, apps,
services, jobs.

Timestamps are stored in UTC. Choices (roles, techs, job statuses) are plain strings guarded
by CHECK constraints, so adding a value is a small migration on both SQLite and PostgreSQL.
The Job table doubles as the audit log: who asked for what, with which arguments, when, and
how it ended.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hosting.catalog import TECHS
from hosting.db import Base

ROLES = ("owner", "member")
JOB_STATUSES = ("queued", "running", "done", "failed")
FINISHED_JOB_STATUSES = ("done", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return str(uuid.uuid4())


def app_root_for(apps_root: str, app_name: str) -> str:
    """An app's root on its host: ``<apps_root>/<name>/srv`` (conf, log, run, app, var)."""
    return str(PurePosixPath(apps_root) / app_name / "srv")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class PlatformInstance(Base):
    """This platform's own random id (one row): tells its system users from those of
    another platform on the same machine."""

    __tablename__ = "platform_instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Host(Base):
    """A machine running a host-level runtime and one RQ queue's workers."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    queue: Mapped[str] = mapped_column(String(64), unique=True)
    apps_root: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    apps: Mapped[list[App]] = relationship(back_populates="host")

    def __repr__(self) -> str:
        return f"<Host {self.id} {self.name!r} queue={self.queue!r}>"


class Tenant(Base):
    """A customer company; its members see and manage its apps."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan"
    )
    apps: Mapped[list[App]] = relationship(back_populates="tenant")

    def __repr__(self) -> str:
        return f"<Tenant {self.id} {self.slug!r}>"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    api_tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}{' admin' if self.is_admin else ''}>"


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "tenant_id"),
        CheckConstraint(_one_of("role", ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")

    user: Mapped[User] = relationship(back_populates="memberships")
    tenant: Mapped[Tenant] = relationship(back_populates="memberships")


class ApiToken(Base):
    """An API token. Only a SHA-256 of the token is kept; ``prefix`` (public, also part of the
    token text) finds the row without scanning."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="api_tokens")


class LoginSession(Base):
    """A panel login, kept on the server so that logging out (or deactivating the user) ends
    it: the session cookie holds only the random id, and a cookie whose row is revoked or
    gone no longer logs anyone in. Only a SHA-256 of the id is kept (hosting.login_sessions)."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class App(Base):
    """An application of a tenant, placed on one host, with its own runtime and root."""

    __tablename__ = "apps"
    __table_args__ = (
        UniqueConstraint("host_id", "name"),
        CheckConstraint(_one_of("tech", TECHS), name="tech"),
        # Ids name the apps' system users: never hand one out again after a delete.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="RESTRICT"), index=True
    )
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    tech: Mapped[str] = mapped_column(String(16))
    custom_command: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="apps")
    host: Mapped[Host] = relationship(back_populates="apps")
    services: Mapped[list[Service]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="Service.id"
    )

    @property
    def root(self) -> str:
        """The app's root on its host (see ``app_root_for``)."""
        return app_root_for(self.host.apps_root, self.name)

    def __repr__(self) -> str:
        return f"<App {self.id} {self.name!r} {self.tech}>"


class Service(Base):
    """A program inside an app (see ``hosting.catalog`` for the kinds and their settings).

    ``settings`` holds only what the user chose; defaults are applied when rendering, so a
    better default reaches every app that did not override it.
    """

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("app_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    app: Mapped[App] = relationship(back_populates="services")

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<Service {self.id} {self.kind}:{self.name!r} {state}>"


class Job(Base):
    """A unit of work for a host's workers, and its audit record.

    Rows are never deleted with their app or user (the foreign keys become NULL), so the
    history of who did what survives.
    """

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_one_of("status", JOB_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_job_id)
    app_id: Mapped[int | None] = mapped_column(
        ForeignKey("apps.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str | None] = mapped_column(String(200))  # e.g. "user:alice@x", "cli:root"
    kind: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    result: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    app: Mapped[App | None] = relationship()
    user: Mapped[User | None] = relationship()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status}>"
