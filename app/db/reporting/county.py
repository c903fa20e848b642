"""The county report's own figures (`certsvc report`)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.filters import in_regions
from app.db.models import Benefit, OutboxEvent


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
