"""The sweep stores each benefit's standing: benefit_states.standing

Statistics count the standing the domain computed (app/domain/progress.py) instead of
re-deriving "due within the lead time" in SQL. Rows swept before this revision have none and
count as not swept (the engine decides them) until the next sweep.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("benefit_states") as batch:
        batch.add_column(sa.Column("standing", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("benefit_states") as batch:
        batch.drop_column("standing")
