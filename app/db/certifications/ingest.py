"""The rows certification ingest reads and writes, for one certification or a thousand alike:
the recipients named (with their benefits), the certifications inserted exactly once with
their audit entries and outbox events, and the stored ones a replay answers with.

Each is one statement whatever the number of rows. PostgreSQL and SQLite need different SQL
for them, so `IngestRows` has one implementation per database, chosen in one place
(`ingest_rows`): on PostgreSQL, statements straight on asyncpg with JSON documents and arrays
(app/db/native.py), on the session's own connection inside the request's transaction or on a
connection of the bare pool; elsewhere, SQLAlchemy on the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import accounts, native
from app.db.accounts import Entry
from app.db.base import new_ids
from app.db.certifications.records import Stored
from app.db.facts import BENEFIT_COLUMNS
from app.db.models import Benefit, Certification, Recipient
from app.db.upsert import insert_for
from app.domain.enums import CertificationResult, Channel


class EventFields(Protocol):
    """An outbox event as its row needs it (app/services/notices/outbox.py `Event`)."""

    @property
    def event_type(self) -> str: ...
    @property
    def recipient_id(self) -> uuid.UUID: ...
    @property
    def benefit_id(self) -> uuid.UUID | None: ...
    @property
    def agency_code(self) -> str: ...
    @property
    def payload(self) -> dict[str, object]: ...
    @property
    def dedupe_key(self) -> str: ...


class Outbox(Protocol):
    """What becomes of the events of the certifications inserted: written and fanned out to
    the webhooks (SQLAlchemy), or, already written by the insert itself, fanned out from the
    rows it returned (PostgreSQL). The outbox service implements it."""

    async def emit(
        self, session: AsyncSession, events: Sequence[EventFields], now: datetime
    ) -> None: ...

    async def fan_out(self, db: native.Db, rows: Sequence[Sequence[Any]], now: datetime) -> None:
        """``rows``: each new event with a live webhook, as (event id, event type, agency
        code, webhook id, its events and its regions as JSON text), or four NULLs."""
        ...


@dataclass(frozen=True, slots=True)
class NewCertification:
    """A row to insert (the stored values plus the columns copied out of the details), and
    what storing it records: its audit entry and its outbox events."""

    stored: Stored
    mode: str | None
    columns: dict[str, str | float | None]
    audit: Entry
    events: tuple[EventFields, ...]


# The columns of each row `IngestRows.people` returns, in this order: a recipient and one of
# its benefits (the benefit's columns None for a recipient without any).
PEOPLE_COLUMNS = (
    "recipient_id",
    "residence",
    "emergency_contacts",
    "benefit_id",
    "benefit_type",
    "agency_code",
    "start_date",
    "approved",
    "external_ref",
    "funeral_subsidy_area",
    "created_at",
)


class IngestRows(Protocol):
    async def people(self, ids: Collection[uuid.UUID]) -> Sequence[Sequence[Any]]:
        """The recipients with these ids joined with their benefits, in one statement, in
        the order of `PEOPLE_COLUMNS`; a recipient's benefits in registration order."""
        ...

    async def insert(
        self, rows: Sequence[NewCertification], recorded_at: datetime, outbox: Outbox
    ) -> set[uuid.UUID]:
        """Insert what no stored row of the same client has the source_ref or
        Idempotency-Key of, with the audit entries and outbox events of what was inserted;
        the ids inserted."""
        ...

    async def by_keys(
        self,
        client_id: uuid.UUID,
        source_refs: Collection[str],
        idempotency_keys: Collection[str],
    ) -> list[Stored]:
        """The client's stored certifications with one of these source_refs or keys."""
        ...


def ingest_rows(db: native.Db) -> IngestRows:
    """The implementation for where ``db`` runs its statements (the one place that chooses)."""
    if db.statements is not None:
        return _Native(db, db.statements)
    return _Orm(db)


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


# --- PostgreSQL -----------------------------------------------------------------------------

# Benefits in the ORM relationship's order (registration), so that answers list them alike.
_PEOPLE = """
SELECT r.id, r.residence, r.emergency_contacts, b.id, b.benefit_type, b.agency_code,
       b.start_date, b.approved, b.external_ref, b.funeral_subsidy_area, b.created_at
FROM recipients r LEFT JOIN benefits b ON b.recipient_id = r.id
WHERE r.id = ANY($1::uuid[])
ORDER BY r.id, b.created_at
"""


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


_BY_KEYS = """
SELECT id, recipient_id, channel, result, counted, occurred_at, recorded_at, client_id,
       source_ref, idempotency_key, request_digest, details::text, warnings::text, imported,
       revoked_at, revoked_by, revoke_reason
FROM certifications
WHERE client_id = $1 AND (source_ref = ANY($2::text[]) OR idempotency_key = ANY($3::text[]))
"""


@dataclass(frozen=True, slots=True)
class _Native:
    db: native.Db
    statements: native.Statements

    async def people(self, ids: Collection[uuid.UUID]) -> Sequence[Sequence[Any]]:
        return await self.statements.fetch(_PEOPLE, list(ids))

    async def insert(
        self, rows: Sequence[NewCertification], recorded_at: datetime, outbox: Outbox
    ) -> set[uuid.UUID]:
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
        result = await self.statements.fetch(
            _INSERT, _json([_values(row) for row in rows]), _json(entries), _json(events)
        )
        await outbox.fan_out(self.db, [row[1:] for row in result if row[0] is None], recorded_at)
        return {row[0] for row in result if row[0] is not None}

    async def by_keys(
        self,
        client_id: uuid.UUID,
        source_refs: Collection[str],
        idempotency_keys: Collection[str],
    ) -> list[Stored]:
        rows = await self.statements.fetch(
            _BY_KEYS, client_id, list(source_refs), list(idempotency_keys)
        )
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


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows, default=uuid_text).decode()


def uuid_text(value: object) -> str:
    """orjson's ``default`` for UUIDs: asyncpg's subclass uuid.UUID, which orjson renders only
    when exact."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- SQLAlchemy (SQLite) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Orm:
    db: native.Db

    async def people(self, ids: Collection[uuid.UUID]) -> Sequence[Sequence[Any]]:
        return (
            await self.db.session.execute(
                select(
                    Recipient.id,
                    Recipient.residence,
                    Recipient.emergency_contacts,
                    *BENEFIT_COLUMNS,
                )
                .outerjoin(Benefit, Benefit.recipient_id == Recipient.id)
                .where(Recipient.id.in_(list(ids)))
                .order_by(Recipient.id, Benefit.created_at)
            )
        ).all()

    async def insert(
        self, rows: Sequence[NewCertification], recorded_at: datetime, outbox: Outbox
    ) -> set[uuid.UUID]:
        session = self.db.session
        table = Certification.__table__
        statement = insert_for(session, table).on_conflict_do_nothing().returning(table.c.id)
        inserted = set()
        for row in rows:
            certification_id = await session.scalar(statement, _values(row))
            if certification_id is not None:
                inserted.add(certification_id)
        new = [row for row in rows if row.stored.id in inserted]
        await accounts.insert_entries(self.db, [row.audit for row in new])
        await outbox.emit(session, [event for row in new for event in row.events], recorded_at)
        return inserted

    async def by_keys(
        self,
        client_id: uuid.UUID,
        source_refs: Collection[str],
        idempotency_keys: Collection[str],
    ) -> list[Stored]:
        found = await self.db.session.scalars(
            select(Certification).where(
                Certification.client_id == client_id,
                or_(
                    Certification.source_ref.in_(list(source_refs)),
                    Certification.idempotency_key.in_(list(idempotency_keys)),
                ),
            )
        )
        return [Stored.of(row) for row in found]
