"""Durable jobs: the Job row holds what Redis used to, so no job is lost with Redis.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``next_attempt_at``: a queued job is not (re)enqueued before it (NULL: at once), which is
how a retry waits out its backoff; ``runner``: the process running the current attempt
(``<host>:<pid>:<start time>``); ``lease_expires_at``: after it, a job still running is
taken to be lost whoever ran it. See ``hosting.job_recovery``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("runner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("runner")
        batch.drop_column("next_attempt_at")
