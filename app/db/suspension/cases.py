"""Verification cases (核实台账): opened once per cause, listed in the order they were opened,
read with their contacts. Settling one is app/db/locks.py (`settle_open_case`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.filters import in_regions
from app.db.keyset import Keyset
from app.db.models import VerificationCase
from app.db.rows import given_values
from app.db.upsert import insert_for

# Cases are listed in the order they were opened.
_OLDEST_FIRST = Keyset(VerificationCase.opened_at, VerificationCase.id)


async def open_once(session: AsyncSession, case: VerificationCase) -> tuple[uuid.UUID, bool]:
    """Store ``case`` (its id given) unless one with its dedupe_key is stored: the stored
    case's id, and whether it is ``case``."""
    inserted: uuid.UUID | None = await session.scalar(
        insert_for(session, VerificationCase)
        .values(**given_values(case))
        .on_conflict_do_nothing()
        .returning(VerificationCase.id)
    )
    if inserted is not None:
        return inserted, True
    existing = await session.scalar(
        select(VerificationCase.id).where(VerificationCase.dedupe_key == case.dedupe_key)
    )
    assert existing is not None
    return existing, False


async def page(
    session: AsyncSession,
    prefixes: Sequence[str] | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[VerificationCase], str | None]:
    """A page of the cases under ``prefixes`` (None: all), with their contacts, and the next
    page's cursor."""
    query = select(VerificationCase).options(selectinload(VerificationCase.contacts))
    if prefixes is not None:
        query = query.where(in_regions(VerificationCase.agency_code, prefixes))
    if status is not None:
        query = query.where(VerificationCase.status == status)
    rows = list(await session.scalars(_OLDEST_FIRST.query(query, limit, cursor)))
    return _OLDEST_FIRST.cut(rows, limit)


async def with_contacts(session: AsyncSession, case_id: uuid.UUID) -> VerificationCase | None:
    """The case as stored now (replacing what the session holds), with its contacts."""
    return await session.scalar(
        select(VerificationCase)
        .where(VerificationCase.id == case_id)
        .options(selectinload(VerificationCase.contacts))
        .execution_options(populate_existing=True)
    )
