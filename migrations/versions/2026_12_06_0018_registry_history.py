"""The registry as it was: registry_history, the values of the fields that decide a cycle

A certification's cycle follows the emergency contacts and the funeral-subsidy flag in force
when it was made, as known at the question's known_at (docs/policy.md §3). Each existing
recipient gets one row with its current number of contacts, and each existing benefit one with
its current flag, both valid from and recorded at the registration: nothing earlier was kept.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=True),
        sa.Column("emergency_contacts", sa.Integer(), nullable=True),
        sa.Column("funeral_subsidy_area", sa.Boolean(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_change", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "(benefit_id IS NULL) = (emergency_contacts IS NOT NULL)",
            name=op.f("ck_registry_history_one_field"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_registry_history_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["benefit_id"],
            ["benefits.id"],
            name=op.f("fk_registry_history_benefit_id_benefits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_history")),
    )
    op.create_index(
        "ix_registry_history_recipient_id", "registry_history", ["recipient_id", "benefit_id"]
    )
    # Answers read the rows of recipients with a change only: few, found through this index.
    op.create_index(
        "ix_registry_history_changes",
        "registry_history",
        ["recipient_id"],
        postgresql_where=sa.text("is_change"),
        sqlite_where=sa.text("is_change"),
    )
    _backfill()


# Ids are made by the database: random UUIDs on PostgreSQL, and on SQLite sixteen random bytes
# as the Uuid type stores them there (hex text, no dashes).
_NEW_ID = {"postgresql": "gen_random_uuid()", "sqlite": "lower(hex(randomblob(16)))"}
_CONTACTS = """
INSERT INTO registry_history (id, recipient_id, benefit_id, emergency_contacts,
                              funeral_subsidy_area, valid_from, recorded_at, is_change)
SELECT NEW_ID, r.id, NULL, r.emergency_contacts, NULL, r.created_at, r.created_at, false
FROM recipients r
"""
_FLAGS = """
INSERT INTO registry_history (id, recipient_id, benefit_id, emergency_contacts,
                              funeral_subsidy_area, valid_from, recorded_at, is_change)
SELECT NEW_ID, b.recipient_id, b.id, NULL, b.funeral_subsidy_area, b.created_at, b.created_at,
       false
FROM benefits b
"""


def _backfill() -> None:
    """One row per recipient and per benefit from the current values, valid from and known at
    the registration."""
    new_id = _NEW_ID[op.get_bind().dialect.name]
    for statement in (_CONTACTS, _FLAGS):
        op.execute(sa.text(statement.replace("NEW_ID", new_id)))


def downgrade() -> None:
    op.drop_index("ix_registry_history_changes", table_name="registry_history")
    op.drop_index("ix_registry_history_recipient_id", table_name="registry_history")
    op.drop_table("registry_history")
