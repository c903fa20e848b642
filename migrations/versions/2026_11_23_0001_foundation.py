"""Foundation: API clients, recipients (ID number protected), benefits.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
ROLES = ("mobile", "county", "data_exchange", "payment", "admin")
RESIDENCES = ("in_province", "out_of_province", "overseas")
BENEFIT_TYPES = (
    "enterprise_pension",
    "institution_pension",
    "resident_pension",
    "work_injury_disability",
    "work_injury_nursing",
    "work_injury_dependent",
    "unemployment",
    "illness_disability_allowance",
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_clients"),
        sa.UniqueConstraint("name", name="uq_api_clients_name"),
        sa.UniqueConstraint("key_digest", name="uq_api_clients_key_digest"),
        sa.CheckConstraint(_one_of("role", ROLES), name="ck_api_clients_role"),
    )
    op.create_table(
        "recipients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("id_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("id_ciphertext", sa.LargeBinary(64), nullable=False),
        sa.Column("id_masked", sa.String(18), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("residence", sa.String(16), nullable=False),
        sa.Column("emergency_contacts", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recipients"),
        sa.UniqueConstraint("id_digest", name="uq_recipients_id_digest"),
        sa.CheckConstraint(_one_of("residence", RESIDENCES), name="ck_recipients_residence"),
    )
    op.create_table(
        "benefits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_type", sa.String(40), nullable=False),
        sa.Column("agency_code", sa.String(6), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("external_ref", sa.String(64), nullable=True),
        sa.Column("funeral_subsidy_area", sa.Boolean(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_benefits"),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name="fk_benefits_recipient_id_recipients",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "recipient_id",
            "benefit_type",
            "agency_code",
            name="uq_benefits_recipient_id_benefit_type_agency_code",
        ),
        sa.CheckConstraint(_one_of("benefit_type", BENEFIT_TYPES), name="ck_benefits_benefittype"),
    )
    op.create_index("ix_benefits_agency_code", "benefits", ["agency_code"])


def downgrade() -> None:
    op.drop_index("ix_benefits_agency_code", table_name="benefits")
    op.drop_table("benefits")
    op.drop_table("recipients")
    op.drop_table("api_clients")
