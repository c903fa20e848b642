"""The facts a decision needs, read for one recipient or ten thousand in a fixed number of
queries. Every answer path (single answer, batch check, certification, payment run) reads
through here, so they cannot see different facts.

`fact_source` is the one place that looks at the database's dialect: PostgreSQL reads through
its own statements (`postgresql`), any other database through SQLAlchemy (`portable`); both
implement `FactSource` (`source`) and give the same `FactBook` (`records`), their events
converted alike (`convert`, which the payment runs' readers use too).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db.facts.convert import (
    case_fact,
    case_fact_of,
    certification_fact,
    moratorium_fact,
    moratorium_fact_of,
    step_fact,
    step_fact_of,
    stop_fact,
    stop_fact_of,
)
from app.db.facts.portable import (
    PortableFactSource,
    changed_registry_rows,
    counted_certification_rows,
)
from app.db.facts.postgresql import PostgresFactSource, load_recipient_facts_pooled
from app.db.facts.records import (
    BENEFIT_COLUMNS,
    IN_CHUNK,
    BenefitRecord,
    BenefitRow,
    FactBook,
    Facts,
    RecipientRecord,
    RecipientRow,
    benefit_facts,
    benefit_record_of,
    recipient_facts,
    registry_fact,
    registry_facts,
)
from app.db.facts.source import FactSource
from app.db.read_pool import ReadPool

__all__ = [
    "BENEFIT_COLUMNS",
    "IN_CHUNK",
    "BenefitRecord",
    "BenefitRow",
    "FactBook",
    "FactSource",
    "Facts",
    "RecipientRecord",
    "RecipientRow",
    "benefit_facts",
    "benefit_record_of",
    "case_fact",
    "case_fact_of",
    "certification_fact",
    "changed_registry_rows",
    "counted_certification_rows",
    "fact_source",
    "load_facts",
    "load_recipient_facts",
    "load_recipient_facts_pooled",
    "moratorium_fact",
    "moratorium_fact_of",
    "recipient_facts",
    "registry_fact",
    "registry_facts",
    "step_fact",
    "step_fact_of",
    "stop_fact",
    "stop_fact_of",
]

_PORTABLE = PortableFactSource()
_POSTGRESQL = PostgresFactSource()


def fact_source(bind: AsyncEngine | AsyncConnection | None) -> FactSource:
    """The implementation for the database behind ``bind`` (a session's bind; None reads
    through SQLAlchemy)."""
    if bind is not None and bind.dialect.name == "postgresql":
        return _POSTGRESQL
    return _PORTABLE


async def load_facts(session: AsyncSession, recipient_ids: Collection[uuid.UUID]) -> FactBook:
    """`FactSource.load_facts` for the session's database."""
    return await fact_source(session.bind).load_facts(session, recipient_ids)


async def load_recipient_facts(
    session: AsyncSession, recipient_id: uuid.UUID, pool: ReadPool | None = None
) -> tuple[RecipientRow, FactBook] | None:
    """`FactSource.load_recipient_facts` for the session's database."""
    return await fact_source(session.bind).load_recipient_facts(session, recipient_id, pool)
