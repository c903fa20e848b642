"""Certifications: every attempt with its channel's evidence, exactly once per client.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
CHANNELS = ("face", "consular_app", "manual", "grassroots_terminal", "home_visit", "data_match")
RESULTS = ("passed", "failed")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "certifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(32), nullable=True),
        sa.Column("app", sa.String(64), nullable=True),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("liveness", sa.Float(), nullable=True),
        sa.Column("office", sa.String(128), nullable=True),
        sa.Column("operator", sa.String(128), nullable=True),
        sa.Column("service_point", sa.String(128), nullable=True),
        sa.Column("terminal_id", sa.String(128), nullable=True),
        sa.Column("source_department", sa.String(32), nullable=True),
        sa.Column("batch_id", sa.String(128), nullable=True),
        sa.Column("home_visit_request_id", sa.String(128), nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
        sa.Column("revoke_reason", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certifications"),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name="fk_certifications_recipient_id_recipients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name="fk_certifications_client_id_api_clients"
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["api_clients.id"], name="fk_certifications_revoked_by_api_clients"
        ),
        sa.UniqueConstraint(
            "client_id", "source_ref", name="uq_certifications_client_id_source_ref"
        ),
        sa.UniqueConstraint(
            "client_id", "idempotency_key", name="uq_certifications_client_id_idempotency_key"
        ),
        sa.CheckConstraint(_one_of("channel", CHANNELS), name="ck_certifications_channel"),
        sa.CheckConstraint(
            _one_of("result", RESULTS), name="ck_certifications_certificationresult"
        ),
    )
    op.create_index(
        "ix_certifications_recipient_occurred",
        "certifications",
        ["recipient_id", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_certifications_recipient_occurred", table_name="certifications")
    op.drop_table("certifications")
