"""The official calendar as versioned data: load a year's arrangement, read the calendar a
deadline needs, and say how far ahead it is known.

A year's arrangement is loaded whole: its days replace the year's previous days as a new
version in one transaction, and loading the same days again changes nothing. The deadlines
counted on the calendar are counted again by their owners (app.services.suspension.stops).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.locks import advisory_xact_lock
from app.db.suspension import calendar as stored
from app.domain.working_days import (
    Deadline,
    Schedule,
    WorkingCalendar,
    deadline_years,
    working_day_deadline,
)

LOOKAHEAD_DAYS = 90  # /readyz and the metric warn when these next days are not all covered
_LOCK_KEY = 0x43414C  # "CAL": the advisory lock that orders loads of one year on PostgreSQL


@dataclass(frozen=True, slots=True)
class LoadResult:
    year: int
    version: int
    changed: bool  # False: the same days were already the year's newest version


@dataclass(frozen=True, slots=True)
class Coverage:
    on: date
    covered_through: date | None  # end of the unbroken run of scheduled years from ``on``
    uncovered_days: int  # of the LOOKAHEAD_DAYS days from ``on``
    years: list[int]

    @property
    def next_days_covered(self) -> bool:
        return self.uncovered_days == 0


@dataclass(frozen=True, slots=True)
class YearStatus:
    year: int
    version: int
    source: str
    loaded_by: str
    loaded_at: datetime
    days: int


async def working_calendar(session: AsyncSession, years: Iterable[int]) -> WorkingCalendar:
    """The arrangements of those of ``years`` that have one."""
    scheduled, days = await stored.days_of(session, years)
    return WorkingCalendar(scheduled, days)


async def count_deadline(session: AsyncSession, event_day: date, working_days: int) -> Deadline:
    """The ``working_days``-th working day after ``event_day`` on the loaded calendar."""
    years = deadline_years(event_day, working_days)
    return working_day_deadline(event_day, working_days, await working_calendar(session, years))


async def load_schedule(
    session: AsyncSession,
    schedule: Schedule,
    *,
    source: str,
    loaded_by: str,
    now: datetime,
) -> LoadResult:
    """Make ``schedule`` the year's newest version, unless it already is (same days)."""
    await advisory_xact_lock(session, _LOCK_KEY, schedule.year)
    latest = await stored.newest_schedule(session, schedule.year)
    digest = schedule.digest()
    if latest is not None and latest.digest == digest:
        return LoadResult(schedule.year, latest.version, changed=False)
    version = 1 if latest is None else latest.version + 1
    await stored.add_version(
        session,
        schedule.year,
        version,
        schedule.kinds(),
        source=source,
        loaded_by=loaded_by,
        loaded_at=now,
        digest=digest,
    )
    return LoadResult(schedule.year, version, changed=True)


async def coverage(session: AsyncSession, on: date) -> Coverage:
    """How far from ``on`` the official arrangements reach, and how many of the next
    LOOKAHEAD_DAYS days lie in a year without one."""
    years = await stored.scheduled_years(session)
    calendar = WorkingCalendar(frozenset(years))
    return Coverage(
        on=on,
        covered_through=calendar.covered_through(on),
        uncovered_days=calendar.uncovered_days(on, LOOKAHEAD_DAYS),
        years=years,
    )


async def year_statuses(session: AsyncSession) -> list[YearStatus]:
    """The newest version of every loaded year, with how many days it names."""
    return [
        YearStatus(row.year, row.version, row.source, row.loaded_by, row.loaded_at, days)
        for row, days in await stored.newest_versions(session)
    ]
