"""Official holiday arrangements as versioned data, seeded from chinese-calendar

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

The years the installed chinese-calendar package carries are loaded as version 1 of each
year (source "chinese-calendar X.Y.Z", loaded by "migration 0019"). Later years come from the
agency: ``certsvc calendar load FILE``. Stop reports counted with the old Monday-to-Friday
fallback become ``provisional``, so ``certsvc calendar recompute`` counts them again.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.domain.calendar_sources import (
    CHINESE_CALENDAR_SOURCE,
    chinese_calendar_years,
    from_chinese_calendar,
)

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schedules = op.create_table(
        "calendar_schedules",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("year", "version", name=op.f("pk_calendar_schedules")),
    )
    days = op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "holiday",
                "working_day",
                name="daykind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["year", "version"],
            ["calendar_schedules.year", "calendar_schedules.version"],
            name="fk_calendar_days_year_calendar_schedules",
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_days")),
    )
    with op.batch_alter_table("calendar_days", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_days_year", ["year"], unique=False)

    loaded_at = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        loaded_at = loaded_at.replace(tzinfo=None)  # as app.db.base.UTCDateTime stores it
    seeded = [from_chinese_calendar(year) for year in chinese_calendar_years()]
    op.bulk_insert(
        schedules,
        [
            {
                "year": schedule.year,
                "version": 1,
                "source": CHINESE_CALENDAR_SOURCE,
                "loaded_by": "migration 0019",
                "loaded_at": loaded_at,
                "digest": schedule.digest(),
            }
            for schedule in seeded
        ],
    )
    op.bulk_insert(
        days,
        [
            {"day": day, "year": schedule.year, "version": 1, "kind": kind.value}
            for schedule in seeded
            for day, kind in schedule.kinds().items()
        ],
    )
    op.execute(
        "UPDATE stop_reports SET calendar = 'provisional' WHERE calendar = 'weekdays_fallback'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE stop_reports SET calendar = 'weekdays_fallback' WHERE calendar = 'provisional'"
    )
    with op.batch_alter_table("calendar_days", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_days_year")
    op.drop_table("calendar_days")
    op.drop_table("calendar_schedules")
