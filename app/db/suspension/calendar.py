"""The official calendar as stored: each year's arrangements (versions) and the days of its
newest one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import CalendarDay, CalendarSchedule
from app.domain.working_days import DayKind


async def days_of(
    session: AsyncSession, years: Iterable[int]
) -> tuple[frozenset[int], dict[date, DayKind]]:
    """Those of ``years`` that have an arrangement, and the kind of every day they name."""
    wanted = list(years)
    scheduled = await session.scalars(
        select(CalendarSchedule.year).where(CalendarSchedule.year.in_(wanted)).distinct()
    )
    rows = await session.execute(
        select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.year.in_(wanted))
    )
    return frozenset(scheduled), {day: kind for day, kind in rows}


async def newest_schedule(session: AsyncSession, year: int) -> CalendarSchedule | None:
    return await session.scalar(
        select(CalendarSchedule)
        .where(CalendarSchedule.year == year)
        .order_by(CalendarSchedule.version.desc())
        .limit(1)
    )


async def add_version(
    session: AsyncSession,
    year: int,
    version: int,
    days: Mapping[date, DayKind],
    *,
    source: str,
    loaded_by: str,
    loaded_at: datetime,
    digest: str,
) -> None:
    """Store ``version`` of the year's arrangement, its ``days`` replacing the year's days."""
    session.add(
        CalendarSchedule(
            year=year,
            version=version,
            source=source,
            loaded_by=loaded_by,
            loaded_at=loaded_at,
            digest=digest,
        )
    )
    await session.flush()
    await session.execute(delete(CalendarDay).where(CalendarDay.year == year))
    if days:
        await session.execute(
            insert(CalendarDay),
            [
                {"day": day, "year": year, "version": version, "kind": kind}
                for day, kind in days.items()
            ],
        )


async def scheduled_years(session: AsyncSession) -> list[int]:
    """Every year with an arrangement, in order."""
    return sorted(set(await session.scalars(select(CalendarSchedule.year).distinct())))


async def newest_versions(session: AsyncSession) -> list[tuple[CalendarSchedule, int]]:
    """The newest version of every loaded year, with how many days the year names, by year."""
    newest = (
        select(CalendarSchedule.year, func.max(CalendarSchedule.version).label("version"))
        .group_by(CalendarSchedule.year)
        .subquery()
    )
    counts = (
        select(CalendarDay.year, func.count().label("days")).group_by(CalendarDay.year).subquery()
    )
    rows = await session.execute(
        select(CalendarSchedule, func.coalesce(counts.c.days, 0))
        .join(
            newest,
            (newest.c.year == CalendarSchedule.year)
            & (newest.c.version == CalendarSchedule.version),
        )
        .outerjoin(counts, counts.c.year == CalendarSchedule.year)
        .order_by(CalendarSchedule.year)
    )
    return [(row, days) for row, days in rows]
