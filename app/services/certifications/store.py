"""The rows certification ingest reads and writes, for one certification or a thousand alike:
the recipients named (with their benefits), the certifications inserted exactly once, and the
stored ones a replay answers with.

Each is one statement whatever the number of rows. On PostgreSQL it runs on the session's own
asyncpg connection with arrays (`unnest`), inside the request's transaction (app/db/native.py);
on SQLite it takes the SQLAlchemy path.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native
from app.db.base import new_ids
from app.db.facts import BenefitRecord, RecipientRecord
from app.db.models import Benefit, Certification, Recipient
from app.db.upsert import insert_for
from app.domain.eligibility import CertificationFact
from app.domain.enums import BenefitType, CertificationResult, Channel, Residence
from app.schemas.certifications import BenefitValidity, CertificationRead, Revocation
from app.services.accounts import audit
from app.services.notices import outbox

# --- recipients ---------------------------------------------------------------------------

# Benefits in the ORM relationship's order (registration), so that answers list them alike.
_PEOPLE = """
SELECT r.id, r.residence, r.emergency_contacts, b.id, b.benefit_type, b.agency_code,
       b.start_date, b.approved, b.external_ref, b.funeral_subsidy_area, b.created_at
FROM recipients r LEFT JOIN benefits b ON b.recipient_id = r.id
WHERE r.id = ANY($1::uuid[])
ORDER BY r.id, b.created_at
"""


async def load_people(db: native.Db, ids: Collection[uuid.UUID]) -> list[RecipientRecord]:
    """The recipients with these ids and their benefits, in one statement."""
    if not ids:
        return []
    if db.statements is not None:
        rows = await db.statements.fetch(_PEOPLE, list(ids))
    else:
        rows = (
            await db.session.execute(
                select(
                    Recipient.id,
                    Recipient.residence,
                    Recipient.emergency_contacts,
                    Benefit.id,
                    Benefit.benefit_type,
                    Benefit.agency_code,
                    Benefit.start_date,
                    Benefit.approved,
                    Benefit.external_ref,
                    Benefit.funeral_subsidy_area,
                    Benefit.created_at,
                )
                .outerjoin(Benefit, Benefit.recipient_id == Recipient.id)
                .where(Recipient.id.in_(list(ids)))
                .order_by(Recipient.id, Benefit.created_at)
            )
        ).all()
    people: dict[uuid.UUID, tuple[Sequence[Any], list[BenefitRecord]]] = {}
    for row in rows:
        _, benefits = people.setdefault(row[0], (row, []))
        if row[3] is not None:
            benefits.append(
                BenefitRecord(
                    id=row[3],
                    benefit_type=BenefitType(row[4]),
                    agency_code=row[5],
                    start_date=row[6],
                    approved=row[7],
                    external_ref=row[8],
                    funeral_subsidy_area=row[9],
                    created_at=row[10],
                )
            )
    return [
        RecipientRecord(
            id=recipient_id,
            residence=Residence(row[1]),
            emergency_contacts=row[2],
            benefits=tuple(benefits),
        )
        for recipient_id, (row, benefits) in people.items()
    ]


# --- certifications -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """A certification row as the answers need it (inserted just now or found stored)."""

    id: uuid.UUID
    recipient_id: uuid.UUID
    channel: Channel
    result: CertificationResult
    counted: bool
    occurred_at: datetime
    recorded_at: datetime
    client_id: uuid.UUID
    source_ref: str | None
    idempotency_key: str | None
    request_digest: str
    details: dict[str, Any]
    warnings: list[str]
    imported: bool = False
    revoked_at: datetime | None = None
    revoked_by: uuid.UUID | None = None
    revoke_reason: str | None = None

    @classmethod
    def of(cls, row: Certification) -> Stored:
        return cls(
            id=row.id,
            recipient_id=row.recipient_id,
            channel=row.channel,
            result=row.result,
            counted=row.counted,
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
            client_id=row.client_id,
            source_ref=row.source_ref,
            idempotency_key=row.idempotency_key,
            request_digest=row.request_digest,
            details=dict(row.details),
            warnings=list(row.warnings),
            imported=row.imported,
            revoked_at=row.revoked_at,
            revoked_by=row.revoked_by,
            revoke_reason=row.revoke_reason,
        )

    def fact(self) -> CertificationFact:
        """What the engine reads of it (`load_facts` reads the same columns)."""
        return CertificationFact(
            certification_id=str(self.id),
            channel=self.channel,
            occurred_at=self.occurred_at,
            recorded_at=self.recorded_at,
            counted=self.counted,
            revoked_at=self.revoked_at,
        )


def to_read(stored: Stored, benefits: list[BenefitValidity]) -> CertificationRead:
    """The answer for a certification: trusted values, so the model is built unvalidated."""
    revocation = None
    if stored.revoked_at is not None:
        revocation = Revocation.model_construct(
            revoked_at=stored.revoked_at,
            revoked_by=str(stored.revoked_by),
            reason=stored.revoke_reason or "",
        )
    return CertificationRead.model_construct(
        certification_id=stored.id,
        recipient_id=stored.recipient_id,
        channel=stored.channel,
        result=stored.result,
        occurred_at=stored.occurred_at,
        recorded_at=stored.recorded_at,
        counted=stored.counted and stored.revoked_at is None,
        warnings=list(stored.warnings),
        source_ref=stored.source_ref,
        recorded_by=str(stored.client_id),
        imported=stored.imported,
        details=stored.details,
        revocation=revocation,
        benefits=benefits,
    )


def read_document(stored: Stored, benefits: list[dict[str, Any]]) -> dict[str, Any]:
    """`to_read`, as the document for `render_json`: the same fields in the same order."""
    revocation = None
    if stored.revoked_at is not None:
        revocation = {
            "revoked_at": stored.revoked_at,
            "revoked_by": str(stored.revoked_by),
            "reason": stored.revoke_reason or "",
        }
    return {
        "certification_id": stored.id,
        "recipient_id": stored.recipient_id,
        "channel": stored.channel,
        "result": stored.result,
        "occurred_at": stored.occurred_at,
        "recorded_at": stored.recorded_at,
        "counted": stored.counted and stored.revoked_at is None,
        "warnings": stored.warnings,
        "source_ref": stored.source_ref,
        "recorded_by": str(stored.client_id),
        "imported": stored.imported,
        "details": stored.details,
        "revocation": revocation,
        "benefits": benefits,
    }


def render_json(document: object) -> bytes:
    """JSON as the response models render it: UTC instants with "Z" (every instant here is
    UTC, as the database gives it back), UUIDs, dates and enums as text."""
    return orjson.dumps(document, default=_uuid_text, option=orjson.OPT_UTC_Z)


@dataclass(frozen=True, slots=True)
class NewCertification:
    """A row to insert (the stored values plus the columns copied out of the details), and
    what storing it records: its audit entry and its outbox events."""

    stored: Stored
    mode: str | None
    columns: dict[str, str | float | None]
    audit: audit.Entry
    events: tuple[outbox.Event, ...]


# Every row in one statement, with the audit entries and outbox events of those inserted. ON
# CONFLICT DO NOTHING on the primary key and both exactly-once keys, so of racing twins one
# inserts and the others see it (RETURNING leaves their rows out, and with them their entries
# and events). The new events come back next to every live webhook, for `outbox.fan_out`.
# Rows travel as one JSON document per table: asyncpg encodes arrays element by element,
# which for a thousand rows cost more than everything else the statement does.
_INSERT = """
WITH new AS (
  INSERT INTO certifications (id, recipient_id, channel, result, counted, occurred_at,
    recorded_at, client_id, source_ref, idempotency_key, request_digest, details, warnings,
    imported, mode, app, device_id, similarity, liveness, office, operator, service_point,
    terminal_id, source_department, batch_id, home_visit_request_id)
  SELECT id, recipient_id, channel, result, counted, occurred_at, recorded_at, client_id,
    source_ref, idempotency_key, request_digest, details, warnings, imported, mode, app,
    device_id, similarity, liveness, office, operator, service_point, terminal_id,
    source_department, batch_id, home_visit_request_id
  FROM json_populate_recordset(NULL::certifications, $1::json)
  ON CONFLICT DO NOTHING
  RETURNING id
), audited AS (
  INSERT INTO audit_log (id, at, client_id, action, resource_type, resource_id, recipient_id,
                         detail)
  SELECT a.id, a.at, a.client_id, a.action, a.resource_type, a.resource_id, a.recipient_id,
         a.detail
  FROM json_to_recordset($2::json)
    AS a(certification_id uuid, id uuid, at timestamptz, client_id uuid, action text,
         resource_type text, resource_id text, recipient_id uuid, detail json)
  JOIN new ON new.id = a.certification_id
), announced AS (
  INSERT INTO outbox_events (id, event_type, recipient_id, benefit_id, agency_code, payload,
                             dedupe_key, created_at)
  SELECT e.id, e.event_type, e.recipient_id, e.benefit_id, e.agency_code, e.payload,
         e.dedupe_key, e.created_at
  FROM json_to_recordset($3::json)
    AS e(certification_id uuid, id uuid, event_type text, recipient_id uuid, benefit_id uuid,
         agency_code text, payload json, dedupe_key text, created_at timestamptz)
  JOIN new ON new.id = e.certification_id
  ON CONFLICT DO NOTHING
  RETURNING id, event_type, agency_code
)
SELECT new.id, NULL::uuid, NULL::text, NULL::text, NULL::uuid, NULL::text, NULL::text
FROM new
UNION ALL
SELECT NULL, announced.id, announced.event_type, announced.agency_code, w.id, w.events::text,
       w.regions::text
FROM announced LEFT JOIN webhooks w ON w.deleted_at IS NULL
"""


def _values(row: NewCertification) -> dict[str, Any]:
    """The row's column values, by name."""
    s = row.stored
    return {
        "id": s.id,
        "recipient_id": s.recipient_id,
        "channel": s.channel,
        "result": s.result,
        "counted": s.counted,
        "occurred_at": s.occurred_at,
        "recorded_at": s.recorded_at,
        "client_id": s.client_id,
        "source_ref": s.source_ref,
        "idempotency_key": s.idempotency_key,
        "request_digest": s.request_digest,
        "details": s.details,
        "warnings": s.warnings,
        "imported": False,
        "mode": row.mode,
        **row.columns,
    }


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows, default=_uuid_text).decode()


def _uuid_text(value: object) -> str:
    # asyncpg's UUIDs subclass uuid.UUID, which orjson renders only when exact.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def insert_certifications(
    db: native.Db, rows: Sequence[NewCertification], recorded_at: datetime
) -> set[uuid.UUID]:
    """Insert what no stored row of the same client has the source_ref or Idempotency-Key
    of, with the audit entries and outbox events of what was inserted; the ids inserted."""
    if not rows:
        return set()
    if db.statements is None:
        inserted = await _insert_certifications_orm(db.session, rows)
        new = [row for row in rows if row.stored.id in inserted]
        await audit.record_many(db, [row.audit for row in new])
        announced = [event for row in new for event in row.events]
        await outbox.emit_many(db.session, announced, recorded_at)
        return inserted
    ids = iter(new_ids(len(rows) + sum(len(row.events) for row in rows)))
    entries = [
        {
            "certification_id": row.stored.id,
            "id": next(ids),
            "at": row.audit.at,
            "client_id": row.audit.client_id,
            "action": row.audit.action,
            "resource_type": row.audit.resource_type,
            "resource_id": str(row.audit.resource_id),
            "recipient_id": row.audit.recipient_id,
            "detail": row.audit.detail,
        }
        for row in rows
    ]
    events = [
        {
            "certification_id": row.stored.id,
            "id": next(ids),
            "event_type": event.event_type,
            "recipient_id": event.recipient_id,
            "benefit_id": event.benefit_id,
            "agency_code": event.agency_code,
            "payload": event.payload,
            "dedupe_key": event.dedupe_key,
            "created_at": recorded_at,
        }
        for row in rows
        for event in row.events
    ]
    result = await db.statements.fetch(
        _INSERT, _json([_values(row) for row in rows]), _json(entries), _json(events)
    )
    await outbox.fan_out(db, [row[1:] for row in result if row[0] is None], recorded_at)
    return {row[0] for row in result if row[0] is not None}


async def _insert_certifications_orm(
    session: AsyncSession, rows: Sequence[NewCertification]
) -> set[uuid.UUID]:
    table = Certification.__table__
    statement = insert_for(session, table).on_conflict_do_nothing().returning(table.c.id)
    inserted = set()
    for row in rows:
        certification_id = await session.scalar(statement, _values(row))
        if certification_id is not None:
            inserted.add(certification_id)
    return inserted


_BY_KEYS = """
SELECT id, recipient_id, channel, result, counted, occurred_at, recorded_at, client_id,
       source_ref, idempotency_key, request_digest, details::text, warnings::text, imported,
       revoked_at, revoked_by, revoke_reason
FROM certifications
WHERE client_id = $1 AND (source_ref = ANY($2::text[]) OR idempotency_key = ANY($3::text[]))
"""


async def find_by_keys(
    db: native.Db,
    client_id: uuid.UUID,
    source_refs: Collection[str],
    idempotency_keys: Collection[str],
) -> list[Stored]:
    """The client's stored certifications with one of these source_refs or keys."""
    if not source_refs and not idempotency_keys:
        return []
    if db.statements is None:
        found = await db.session.scalars(
            select(Certification).where(
                Certification.client_id == client_id,
                or_(
                    Certification.source_ref.in_(list(source_refs)),
                    Certification.idempotency_key.in_(list(idempotency_keys)),
                ),
            )
        )
        return [Stored.of(row) for row in found]
    rows = await db.statements.fetch(_BY_KEYS, client_id, list(source_refs), list(idempotency_keys))
    return [
        Stored(
            id=row[0],
            recipient_id=row[1],
            channel=Channel(row[2]),
            result=CertificationResult(row[3]),
            counted=row[4],
            occurred_at=row[5],
            recorded_at=row[6],
            client_id=row[7],
            source_ref=row[8],
            idempotency_key=row[9],
            request_digest=row[10],
            details=orjson.loads(row[11]),
            warnings=orjson.loads(row[12]),
            imported=row[13],
            revoked_at=row[14],
            revoked_by=row[15],
            revoke_reason=row[16],
        )
        for row in rows
    ]


def utc(instant: datetime) -> datetime:
    """An instant as the database gives it back (UTC), so an answer built from the values
    just inserted equals the answer a replay reads back."""
    return instant.astimezone(UTC)
