"""Stop reports (停发情形报告), their deadlines, moratoria and the after-the-fact checks'
candidates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.filters import in_regions
from app.db.models import Benefit, Certification, Moratorium, StopReport, VerificationCase
from app.db.rows import given_values
from app.db.upsert import insert_for
from app.domain.working_days import DeadlineBasis


async def insert_once(session: AsyncSession, report: StopReport) -> uuid.UUID | None:
    """Store ``report`` (its id given) unless a twin with its source_ref is stored: its id, or
    None when the twin won."""
    inserted: uuid.UUID | None = await session.scalar(
        insert_for(session, StopReport)
        .values(**given_values(report))
        .on_conflict_do_nothing()
        .returning(StopReport.id)
    )
    return inserted


async def by_source_ref(
    session: AsyncSession, client_id: uuid.UUID, source_ref: str | None
) -> StopReport | None:
    return await session.scalar(
        select(StopReport).where(
            StopReport.client_id == client_id, StopReport.source_ref == source_ref
        )
    )


async def get(session: AsyncSession, report_id: uuid.UUID) -> StopReport:
    return await session.get_one(StopReport, report_id)


async def case_of(session: AsyncSession, report_id: uuid.UUID) -> uuid.UUID | None:
    """The verification case a suspicion opened, if any."""
    return await session.scalar(
        select(VerificationCase.id).where(VerificationCase.stop_report_id == report_id)
    )


async def to_recount(session: AsyncSession, year: int | None) -> list[StopReport]:
    """Reports whose deadline is provisional, and with ``year`` those whose count ran through
    that year."""
    condition = StopReport.calendar == DeadlineBasis.PROVISIONAL.value
    if year is not None:
        condition = or_(
            condition,
            (StopReport.occurred_on < date(year + 1, 1, 1))
            & (StopReport.deadline >= date(year, 1, 1)),
        )
    return list(await session.scalars(select(StopReport).where(condition)))


async def set_deadline(
    session: AsyncSession,
    report_id: uuid.UUID,
    deadline: date,
    late: bool,
    calendar: DeadlineBasis,
) -> None:
    await session.execute(
        update(StopReport)
        .where(StopReport.id == report_id)
        .values(deadline=deadline, late=late, calendar=calendar.value)
    )


async def provisional_count(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(StopReport)
        .where(StopReport.calendar == DeadlineBasis.PROVISIONAL.value)
    )
    return count or 0


async def benefits_of(session: AsyncSession, recipient_id: uuid.UUID) -> list[Benefit]:
    """The recipient's benefits in the order they were registered."""
    return list(
        await session.scalars(
            select(Benefit).where(Benefit.recipient_id == recipient_id).order_by(Benefit.created_at)
        )
    )


async def moratoria(session: AsyncSession) -> list[Moratorium]:
    """Every moratorium, oldest first."""
    return list(await session.scalars(select(Moratorium).order_by(Moratorium.created_at)))


async def certified_since(
    session: AsyncSession, prefix: str, since: datetime
) -> Sequence[tuple[uuid.UUID, uuid.UUID, datetime]]:
    """(recipient id, certification id, occurred at) of the counted, unrevoked certifications
    occurred from ``since`` by recipients with a benefit under ``prefix``, oldest first."""
    rows = await session.execute(
        select(Certification.recipient_id, Certification.id, Certification.occurred_at)
        .join(Benefit, Benefit.recipient_id == Certification.recipient_id)
        .where(
            in_regions(Benefit.agency_code, [prefix]),
            Certification.counted.is_(True),
            Certification.revoked_at.is_(None),
            Certification.occurred_at >= since,
        )
        .distinct()
        .order_by(Certification.occurred_at)
    )
    return [(recipient_id, certification_id, at) for recipient_id, certification_id, at in rows]
