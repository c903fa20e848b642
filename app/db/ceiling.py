"""The benchmark ceiling's one read (app/routers/ceiling.py): a recipient row by primary key,
through the read pool on PostgreSQL (the eligibility endpoint's path), else the engine."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import Recipient
from app.db.read_pool import ReadPool

ROW_QUERY = (
    "SELECT id, id_masked, birth_date, residence, emergency_contacts FROM recipients WHERE id = $1"
)


async def recipient_row(
    pool: ReadPool | None, engine: AsyncEngine, recipient_id: uuid.UUID
) -> dict[str, Any] | None:
    if pool is not None:
        row = await pool.fetchrow(ROW_QUERY, recipient_id)
        return None if row is None else dict(row)
    async with engine.connect() as connection:  # SQLite: there is no asyncpg
        result = await connection.execute(
            select(
                Recipient.id,
                Recipient.id_masked,
                Recipient.birth_date,
                Recipient.residence,
                Recipient.emergency_contacts,
            ).where(Recipient.id == recipient_id)
        )
        mapping = result.mappings().first()
    return None if mapping is None else dict(mapping)
