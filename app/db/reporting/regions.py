"""The recipients of a region, a chunk at a time (reminders, outreach, statistics), and the
county report's own figures."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.filters import in_regions
from app.db.models import Benefit, OutboxEvent, Recipient


async def recipient_ids(
    session: AsyncSession,
    prefix: str,
    after: uuid.UUID | None,
    limit: int,
    *,
    inclusive: bool = False,
) -> list[uuid.UUID]:
    """The next ``limit`` recipients with a benefit in the region, in id order, after ``after``
    (from it, when ``inclusive``)."""
    query = select(Benefit.recipient_id).distinct().where(in_regions(Benefit.agency_code, [prefix]))
    if after is not None:
        query = query.where(
            Benefit.recipient_id >= after if inclusive else Benefit.recipient_id > after
        )
    rows = await session.scalars(query.order_by(Benefit.recipient_id).limit(limit))
    return list(rows)


async def recipients_with_benefits(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[Recipient]:
    """These recipients, each with all of their benefits loaded."""
    rows = await session.scalars(
        select(Recipient).where(Recipient.id.in_(ids)).options(selectinload(Recipient.benefits))
    )
    return list(rows)


async def agency_codes(session: AsyncSession, prefix: str) -> list[str]:
    """The agencies (counties) with a benefit under the prefix, in code order."""
    rows = await session.scalars(
        select(Benefit.agency_code)
        .distinct()
        .where(in_regions(Benefit.agency_code, [prefix]))
        .order_by(Benefit.agency_code)
    )
    return list(rows)


async def suspensions_by_day(session: AsyncSession, prefix: str) -> Counter[str]:
    """The `suspended` events announced under the prefix, by the day (ISO text) they name."""
    events = await session.execute(
        select(OutboxEvent.payload["on"].as_string(), func.count())
        .where(
            OutboxEvent.event_type == "suspended",
            in_regions(OutboxEvent.agency_code, [prefix]),
        )
        # By position: PostgreSQL would not match a repeated JSON path with a new parameter.
        .group_by(text("1"))
    )
    per_day: Counter[str] = Counter()
    for day, count in events:
        if day:
            per_day[day] += count
    return per_day
