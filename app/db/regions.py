"""The recipients with a benefit in a region, a chunk at a time: what the sweep, reminders,
outreach and statistics walk, in recipient-id order, in constant memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.filters import in_regions
from app.db.keyset import next_chunk
from app.db.models import Benefit, Recipient


async def recipient_ids(
    session: AsyncSession,
    prefix: str | None,
    after: uuid.UUID | None,
    limit: int,
    *,
    inclusive: bool = False,
) -> list[uuid.UUID]:
    """The next ``limit`` recipients with a benefit under ``prefix`` (None: anywhere), after
    ``after`` (from it, when ``inclusive``)."""
    query = select(Benefit.recipient_id).distinct()
    if prefix is not None:
        query = query.where(in_regions(Benefit.agency_code, [prefix]))
    rows = await session.scalars(
        next_chunk(query, Benefit.recipient_id, after, limit, inclusive=inclusive)
    )
    return list(rows)


async def recipients_with_benefits(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[Recipient]:
    """These recipients, each with all of their benefits loaded."""
    rows = await session.scalars(
        select(Recipient).where(Recipient.id.in_(ids)).options(selectinload(Recipient.benefits))
    )
    return list(rows)
