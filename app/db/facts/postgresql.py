"""The facts through PostgreSQL's own statements, straight on asyncpg: through SQLAlchemy a
1000-recipient batch spent three times as long building rows and planning the four IN lists
as in the statements themselves. The answers equal `app.db.facts.portable`'s
(tests/api/test_run_agreement.py and the eligibility tests compare them)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.facts.convert import case_fact_of, moratorium_fact_of, step_fact_of, stop_fact_of
from app.db.facts.records import (
    FactBook,
    Facts,
    RecipientRecord,
    RecipientRow,
    benefit_record_of,
    chunks,
    registry_facts,
)
from app.db.read_pool import CONNECTION_LOST, ReadPool
from app.domain.eligibility import CertificationFact
from app.domain.enums import Channel, Residence
from app.domain.events import MoratoriumFact
from app.errors import DatabaseUnavailable

logger = logging.getLogger("certsvc.errors")

# One statement for everything one recipient's answer needs, so a point read is one round trip
# and one snapshot: the recipient, its benefits in registration order (ordered exactly as the
# ORM relationship orders them, so that benefits registered together, whose created_at is
# equal, come in the same order on both paths), its counted
# certifications (the columns `load_facts` reads), its stop reports, cases and steps, and the
# moratoria. Arrays of anonymous records arrive from asyncpg typed, as tuples.
_FACT_ARRAYS = """
  ARRAY(SELECT ROW(c.id, c.channel, c.occurred_at, c.recorded_at, c.counted, c.revoked_at)
        FROM certifications c WHERE c.recipient_id = r.id AND c.counted) AS certifications,
  ARRAY(SELECT ROW(s.id, s.reason, s.benefit_id, s.occurred_on, s.recorded_at, s.suspected,
                   s.documents::text)
        FROM stop_reports s WHERE s.recipient_id = r.id) AS stops,
  ARRAY(SELECT ROW(v.id, v.benefit_id, v.stop_report_id, v.opened_at, v.outcome,
                   v.effective_on, v.resolved_at)
        FROM verification_cases v WHERE v.recipient_id = r.id) AS cases,
  ARRAY(SELECT ROW(p.kind, p.completed_on, p.recorded_at)
        FROM resumption_steps p WHERE p.recipient_id = r.id) AS steps,
  ARRAY(SELECT ROW(h.benefit_id, h.emergency_contacts, h.funeral_subsidy_area, h.valid_from,
                   h.recorded_at)
        FROM registry_history h WHERE h.recipient_id = r.id
          AND EXISTS (SELECT FROM registry_history c WHERE c.recipient_id = r.id AND c.is_change)
       ) AS registry"""
_MORATORIA_ARRAY = """
  ARRAY(SELECT ROW(m.id, m.agency_code, m.benefit_types::text, m.starts_on, m.ends_on,
                   m.created_at)
        FROM moratoria m) AS moratoria"""
# The statements are assembled from the constant fragments above, never from input.
_ONE_RECIPIENT = f"""
SELECT r.residence, r.emergency_contacts,
  ARRAY(SELECT ROW(b.id, b.benefit_type, b.agency_code, b.start_date, b.approved,
                   b.external_ref, b.funeral_subsidy_area, b.created_at)
        FROM benefits b WHERE b.recipient_id = r.id ORDER BY b.created_at) AS benefits,
  {_FACT_ARRAYS},
  {_MORATORIA_ARRAY}
FROM recipients r WHERE r.id = $1
"""  # noqa: S608
# The same facts for many recipients at once (load_facts on PostgreSQL): one row per id asked.
_MANY_RECIPIENTS = f"SELECT r.id, {_FACT_ARRAYS} FROM unnest($1::uuid[]) AS r(id)"  # noqa: S608
_ALL_MORATORIA = f"SELECT {_MORATORIA_ARRAY}"


class PostgresFactSource:
    """`FactSource` in PostgreSQL statements, on the session's own connection (it sees the
    session's transaction) or, for one recipient, through the read pool."""

    async def load_facts(
        self, session: AsyncSession, recipient_ids: Collection[uuid.UUID]
    ) -> FactBook:
        """One statement per chunk of recipients plus one for the moratoria."""
        connection = await (await session.connection()).get_raw_connection()
        driver = connection.driver_connection
        assert driver is not None
        by_recipient: dict[uuid.UUID, Facts] = {}
        for chunk in chunks(list(dict.fromkeys(recipient_ids))):
            for row in await driver.fetch(_MANY_RECIPIENTS, chunk):
                by_recipient[row[0]] = _facts_from_arrays(row[1], row[2], row[3], row[4], row[5])
        moratoria = _moratoria_from_array(await driver.fetchval(_ALL_MORATORIA))
        return FactBook({rid: by_recipient[rid] for rid in recipient_ids}, moratoria)

    async def load_recipient_facts(
        self, session: AsyncSession, recipient_id: uuid.UUID, pool: ReadPool | None = None
    ) -> tuple[RecipientRow, FactBook] | None:
        """One statement, no ORM, through ``pool`` (no transaction: one statement is one
        snapshot), or through the session's connection when the session is bound to one (it
        then sees what that connection's transaction sees)."""
        if pool is None or isinstance(session.bind, AsyncConnection):
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            row = await raw.driver_connection.fetchrow(_ONE_RECIPIENT, recipient_id)  # type: ignore[union-attr]
            return _recipient_from_row(recipient_id, row)
        return await load_recipient_facts_pooled(pool, recipient_id)


async def load_recipient_facts_pooled(
    pool: ReadPool, recipient_id: uuid.UUID
) -> tuple[RecipientRow, FactBook] | None:
    """`load_recipient_facts` through the read pool alone, for a caller that knows the pool
    may answer (PostgreSQL, no transaction of its own to see into): no session is made."""
    try:
        row = await pool.fetchrow(_ONE_RECIPIENT, recipient_id)
    except CONNECTION_LOST as exc:
        # As app/errors.py answers the engine's connection failures: 503, never a 500.
        logger.warning("database unavailable: %s", type(exc).__name__)
        raise DatabaseUnavailable(
            "The database cannot be reached; try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    return _recipient_from_row(recipient_id, row)


def _recipient_from_row(recipient_id: uuid.UUID, row: Any) -> tuple[RecipientRow, FactBook] | None:
    if row is None:
        return None
    recipient = RecipientRecord(
        id=recipient_id,
        residence=Residence(row["residence"]),
        emergency_contacts=row["emergency_contacts"],
        benefits=tuple(benefit_record_of(b) for b in row["benefits"]),
    )
    facts = _facts_from_arrays(
        row["certifications"], row["stops"], row["cases"], row["steps"], row["registry"]
    )
    moratoria = _moratoria_from_array(row["moratoria"])
    return recipient, FactBook({recipient_id: facts}, moratoria)


def _facts_from_arrays(
    certifications: Sequence[Any],
    stops: Sequence[Any],
    cases: Sequence[Any],
    steps: Sequence[Any],
    registry: Sequence[Any],
) -> Facts:
    """One recipient's facts from the typed record arrays the statements return."""
    return Facts(
        certifications=[
            CertificationFact(
                certification_id=str(c[0]),
                channel=Channel(c[1]),
                occurred_at=c[2],
                recorded_at=c[3],
                counted=c[4],
                revoked_at=c[5],
            )
            for c in certifications
        ],
        stops=[stop_fact_of(s) for s in stops],
        cases=[case_fact_of(v) for v in cases],
        steps=[step_fact_of(p) for p in steps],
        registry=registry_facts(registry),
    )


def _moratoria_from_array(moratoria: Sequence[Any]) -> list[MoratoriumFact]:
    return [moratorium_fact_of(m) for m in moratoria]
