"""Index of payment-run items that were not a plain payment, for back-pay reconciliation

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A run reads, for each span's benefits, the earlier runs' items that withheld them or listed
# back pay (app/services/payment_runs/ledger.py): a few percent of all items. Indexing only those keeps
# the index small and the COPY of a run's million plain payments free of its upkeep.
UNSETTLED = "NOT payable OR CAST(back_pay_months AS TEXT) <> '[]'"


def upgrade() -> None:
    op.create_index(
        "ix_payment_run_items_unsettled",
        "payment_run_items",
        ["benefit_id", "run_id"],
        postgresql_where=sa.text(UNSETTLED),
        sqlite_where=sa.text(UNSETTLED),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_run_items_unsettled", table_name="payment_run_items")
