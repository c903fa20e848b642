"""The official holiday arrangements (放假安排) deadlines are counted in."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_enum
from app.domain.working_days import DayKind


class CalendarSchedule(Base):
    """One loaded version of a year's official holiday arrangement (放假安排): where it came
    from, who loaded it and when. The newest version of a year is the one its days belong to."""

    __tablename__ = "calendar_schedules"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    loaded_by: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(64))  # of the days, so a reload is a no-op


class CalendarDay(Base):
    """A day an official arrangement names: a holiday, or a weekend day made a working day.
    Days it does not name are ordinary (Monday to Friday work)."""

    __tablename__ = "calendar_days"
    __table_args__ = (
        ForeignKeyConstraint(
            ["year", "version"],
            ["calendar_schedules.year", "calendar_schedules.version"],
            name="fk_calendar_days_year_calendar_schedules",
        ),
        Index("ix_calendar_days_year", "year"),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    year: Mapped[int]
    version: Mapped[int]
    kind: Mapped[DayKind] = mapped_column(str_enum(DayKind, 16))
