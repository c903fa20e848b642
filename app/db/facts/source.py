"""The one interface every answer path reads its facts through (single answer, batch check,
certification, payment run), so that they cannot see different facts. Two implementations:
`app.db.facts.portable` (SQLAlchemy, any database) and `app.db.facts.postgresql` (PostgreSQL's
own statements); `app.db.facts.fact_source` picks one from the bind."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.facts.records import FactBook, RecipientRow
from app.db.read_pool import ReadPool


class FactSource(Protocol):
    async def load_facts(
        self, session: AsyncSession, recipient_ids: Collection[uuid.UUID]
    ) -> FactBook:
        """The facts of each of ``recipient_ids`` (certifications that count, stop reports,
        cases, resumption steps, registry history) and the moratoria, in a fixed number of
        queries however many recipients are asked about, as the session's transaction sees
        them. Every id asked must be a recipient's."""
        ...

    async def load_recipient_facts(
        self, session: AsyncSession, recipient_id: uuid.UUID, pool: ReadPool | None = None
    ) -> tuple[RecipientRow, FactBook] | None:
        """One recipient with its benefits (in registration order), and the facts
        `load_facts` would give for it; None when there is no such recipient. ``pool`` may
        answer when the session has no transaction of its own to see into."""
        ...
