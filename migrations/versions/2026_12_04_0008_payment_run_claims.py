"""Payment run claims: a fencing attempt number, the planned item count and the claimant

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ``attempt`` fences every write of a computation: a restart after a stale lease takes the
    # run over by raising it, and a computation whose attempt is no longer the run's writes
    # nothing more. ``planned_items`` is how many benefits the run's snapshot holds in scope,
    # which the sealing transaction proves were all stored.
    with op.batch_alter_table("payment_runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("planned_items", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_runs") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("planned_items")
        batch.drop_column("attempt")
