"""Stop reports, verification cases (台账) with contacts, resumption steps, moratoria.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moratoria",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_code", sa.String(length=6), nullable=False),
        sa.Column("benefit_types", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_moratoria_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moratoria")),
    )
    op.create_table(
        "resumption_steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "automatic",
                "commitment_required",
                "employer_verification",
                "continuation_procedure",
                name="resumptionmode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("employer", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=256), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_resumption_steps_client_id_api_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_resumption_steps_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resumption_steps")),
    )
    op.create_index("ix_resumption_steps_recipient_id", "resumption_steps", ["recipient_id"])

    op.create_table(
        "stop_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=True),
        sa.Column(
            "reason",
            sa.Enum(
                "death",
                "imprisonment",
                "release",
                "re_employment",
                "started_pension",
                "enlisted",
                "emigrated",
                "dependent_no_longer_eligible",
                "other",
                name="stopreason",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column(
            "reported_by",
            sa.Enum(
                "employer",
                "family",
                "self",
                "agency",
                "data_match",
                name="reporter",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("suspected", sa.Boolean(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("source_ref", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["benefit_id"],
            ["benefits.id"],
            name=op.f("fk_stop_reports_benefit_id_benefits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_stop_reports_client_id_api_clients")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_stop_reports_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stop_reports")),
        sa.UniqueConstraint(
            "client_id", "source_ref", name=op.f("uq_stop_reports_client_id_source_ref")
        ),
    )
    with op.batch_alter_table("stop_reports", schema=None) as batch_op:
        batch_op.create_index("ix_stop_reports_recipient_id", ["recipient_id"], unique=False)

    op.create_table(
        "verification_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=True),
        sa.Column("agency_code", sa.String(length=6), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stop_report_id", sa.Uuid(), nullable=True),
        sa.Column("certification_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "confirmed_eligible",
                "confirmed_ineligible",
                name="caseoutcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["benefit_id"],
            ["benefits.id"],
            name=op.f("fk_verification_cases_benefit_id_benefits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["certifications.id"],
            name=op.f("fk_verification_cases_certification_id_certifications"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_verification_cases_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["api_clients.id"],
            name=op.f("fk_verification_cases_resolved_by_api_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["stop_report_id"],
            ["stop_reports.id"],
            name=op.f("fk_verification_cases_stop_report_id_stop_reports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_cases")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_verification_cases_dedupe_key")),
    )
    with op.batch_alter_table("verification_cases", schema=None) as batch_op:
        batch_op.create_index("ix_verification_cases_recipient_id", ["recipient_id"], unique=False)
        batch_op.create_index(
            "ix_verification_cases_status_agency", ["status", "agency_code"], unique=False
        )

    op.create_table(
        "case_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["verification_cases.id"],
            name=op.f("fk_case_contacts_case_id_verification_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_case_contacts_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_contacts")),
    )
    op.create_index("ix_case_contacts_case_id", "case_contacts", ["case_id"])


def downgrade() -> None:

    op.drop_index("ix_case_contacts_case_id", table_name="case_contacts")

    op.drop_table("case_contacts")
    with op.batch_alter_table("verification_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_cases_status_agency")
        batch_op.drop_index("ix_verification_cases_recipient_id")

    op.drop_table("verification_cases")
    with op.batch_alter_table("stop_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_stop_reports_recipient_id")

    op.drop_table("stop_reports")
    op.drop_index("ix_resumption_steps_recipient_id", table_name="resumption_steps")

    op.drop_table("resumption_steps")
    op.drop_table("moratoria")
