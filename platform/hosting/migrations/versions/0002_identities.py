"""Identities that are never handed out again: app ids and the platform's instance id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

An app's system user is named from its id, so an id must never come back after a delete:
on SQLite the apps table gets AUTOINCREMENT (PostgreSQL's sequences never go back anyway).
The ``platform_instance`` table holds one random id per platform, from which the default
user-name prefix is made, so two platforms on one host never share a user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "platform_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_instance")),
    )
    op.bulk_insert(
        table, [{"id": 1, "instance_id": uuid.uuid4().hex, "created_at": datetime.now(UTC)}]
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "apps", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("apps", recreate="always"):
            pass
    op.drop_table("platform_instance")
