"""Queries of the eligibility answers beyond the facts (`app.db.facts`): the recipients a batch
check asks about."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.facts import IN_CHUNK
from app.db.models import Recipient


async def recipients_with_benefits(
    session: AsyncSession, recipient_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Recipient]:
    """Those of ``recipient_ids`` that exist, by id, with their benefits loaded: one query per
    `IN_CHUNK` ids (and one for their benefits)."""
    ids = list(recipient_ids)
    recipients: dict[uuid.UUID, Recipient] = {}
    for start in range(0, len(ids), IN_CHUNK):
        found = await session.scalars(
            select(Recipient)
            .where(Recipient.id.in_(ids[start : start + IN_CHUNK]))
            .options(selectinload(Recipient.benefits))
        )
        recipients.update((recipient.id, recipient) for recipient in found)
    return recipients
