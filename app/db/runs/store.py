"""The stored payment runs: finding a month's latest run, recording a new generation, the runs
waiting for a computation, and reading back a run's pages and items in order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import new_id, utcnow
from app.db.keyset import next_chunk
from app.db.models import PaymentRun, PaymentRunItem, PaymentRunPage
from app.db.runs.claims import COMPUTING
from app.db.upsert import insert_for


async def latest_run(session: AsyncSession, month: str, agency_code: str) -> PaymentRun | None:
    """The newest generation of the month's run for the agency."""
    return await session.scalar(
        select(PaymentRun)
        .where(PaymentRun.month == month, PaymentRun.agency_code == agency_code)
        .order_by(PaymentRun.generation.desc())
        .limit(1)
    )


async def record_run(
    session: AsyncSession,
    *,
    month: str,
    agency_code: str,
    generation: int,
    on: date,
    known_at: datetime,
    requested_by: uuid.UUID | None,
) -> tuple[PaymentRun, bool]:
    """A pending run of this generation and True, or the one a concurrent request recorded
    first and False (the generation is unique per month and agency)."""
    run_id = await session.scalar(
        insert_for(session, PaymentRun)
        .values(
            id=new_id(),
            month=month,
            agency_code=agency_code,
            generation=generation,
            on=on,
            known_at=known_at,
            status="pending",
            requested_by=requested_by,
            created_at=known_at,
            # Leases are wall-clock time, whatever the request's business date.
            heartbeat_at=utcnow(),
            attempt=1,
            items=0,
            payable=0,
            withheld=0,
            stopped=0,
        )
        .on_conflict_do_nothing()
        .returning(PaymentRun.id)
    )
    if run_id is None:
        raced = await session.scalar(
            select(PaymentRun).where(
                PaymentRun.month == month,
                PaymentRun.agency_code == agency_code,
                PaymentRun.generation == generation,
            )
        )
        assert raced is not None
        return raced, False
    return await session.get_one(PaymentRun, run_id), True


async def computing_runs(session: AsyncSession, limit: int) -> Sequence[PaymentRun]:
    """Runs waiting for or under a computation, oldest first."""
    return (
        await session.scalars(
            select(PaymentRun)
            .where(PaymentRun.status.in_(COMPUTING))
            .order_by(PaymentRun.created_at, PaymentRun.id)
            .limit(limit)
        )
    ).all()


async def page_after(
    session: AsyncSession, run_id: uuid.UUID, after: int
) -> tuple[int, bytes] | None:
    """The run's first stored page numbered above ``after``: its number and NDJSON bytes."""
    query = select(PaymentRunPage.page, PaymentRunPage.body).where(PaymentRunPage.run_id == run_id)
    found = (await session.execute(next_chunk(query, PaymentRunPage.page, after, 1))).first()
    return None if found is None else (found.page, found.body)


async def items_after(
    session: AsyncSession, run_id: uuid.UUID, after: int, limit: int
) -> Sequence[RowMapping]:
    """Up to ``limit`` stored items of the run numbered above ``after``, in order, as rows."""
    query = select(PaymentRunItem.__table__).where(PaymentRunItem.run_id == run_id)
    chunk = next_chunk(query, PaymentRunItem.seq, after, limit)
    return (await session.execute(chunk)).mappings().all()
