"""Jobs say what they did: a stored title ("Enable Redis", "Add program worker").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

An ``apply_services`` job's kind and arguments do not say which service changed, so the
command that enqueues a job stores its title. Older rows keep a NULL title (the panel falls
back to one made from the kind). Log reads are no longer jobs: their old rows are noise in
the audit trail (a live follow made ~1,400 an hour) and go.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"  # after main's 0004 (login sessions) at the merge
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("title", sa.String(200), nullable=True))
    op.execute(sa.text("DELETE FROM jobs WHERE kind = 'read_log'"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("title")
