"""What the last sweep saw of each benefit (`benefit_states`), so the next one announces only
transitions, and statistics count the standings it stored."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Benefit, BenefitState
from app.db.upsert import insert_for


async def states_of(
    session: AsyncSession, recipient_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, BenefitState]:
    """The stored state of every benefit of these recipients that has one, by benefit id."""
    rows = await session.scalars(
        select(BenefitState).where(
            BenefitState.benefit_id.in_(
                select(Benefit.id).where(Benefit.recipient_id.in_(recipient_ids))
            )
        )
    )
    return {state.benefit_id: state for state in rows}


async def save_state(
    session: AsyncSession,
    benefit_id: uuid.UUID,
    *,
    status: str,
    reason: str,
    payable: bool,
    valid_through: date | None,
    standing: str,
    swept_on: date,
    updated_at: datetime,
) -> None:
    """Insert or replace the benefit's state."""
    values = {
        "status": status,
        "reason": reason,
        "payable": payable,
        "valid_through": valid_through,
        "standing": standing,
        "swept_on": swept_on,
        "updated_at": updated_at,
    }
    statement = insert_for(session, BenefitState).values(benefit_id=benefit_id, **values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[BenefitState.benefit_id], set_=values)
    )
