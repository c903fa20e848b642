"""What certification ingest stores and answers with, for one certification or a thousand
alike: the recipients named (with their benefits), the certifications inserted exactly once,
the stored ones a replay answers with (the statements, one per step whatever the number of
rows, are in app/db/certifications/ingest.py), and the answer's document.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native
from app.db.certifications.ingest import (
    EventFields,
    NewCertification,
    ingest_rows,
    uuid_text,
)
from app.db.certifications.records import Stored
from app.db.facts import BenefitRecord, RecipientRecord, benefit_record_of
from app.domain.enums import Residence
from app.schemas.certifications import BenefitValidity, CertificationRead, Revocation
from app.services.notices import outbox

__all__ = [
    "NewCertification",
    "Stored",
    "find_by_keys",
    "insert_certifications",
    "load_people",
    "read_document",
    "render_json",
    "to_read",
    "utc",
]


async def load_people(db: native.Db, ids: Collection[uuid.UUID]) -> list[RecipientRecord]:
    """The recipients with these ids and their benefits, in one statement."""
    if not ids:
        return []
    rows = await ingest_rows(db).people(ids)
    people: dict[uuid.UUID, tuple[Sequence[Any], list[BenefitRecord]]] = {}
    for row in rows:
        _, benefits = people.setdefault(row[0], (row, []))
        if row[3] is not None:
            benefits.append(benefit_record_of(row[3:]))
    return [
        RecipientRecord(
            id=recipient_id,
            residence=Residence(row[1]),
            emergency_contacts=row[2],
            benefits=tuple(benefits),
        )
        for recipient_id, (row, benefits) in people.items()
    ]


class _Outbox:
    """The outbox service, as the insert hands it the events of what it inserted."""

    async def emit(
        self, session: AsyncSession, events: Sequence[EventFields], now: datetime
    ) -> None:
        # The events are those ingest built (`outbox.Event`), handed back as they came.
        await outbox.emit_many(session, cast(Sequence[outbox.Event], events), now)

    async def fan_out(self, db: native.Db, rows: Sequence[Sequence[Any]], now: datetime) -> None:
        await outbox.fan_out(db, rows, now)


async def insert_certifications(
    db: native.Db, rows: Sequence[NewCertification], recorded_at: datetime
) -> set[uuid.UUID]:
    """Insert what no stored row of the same client has the source_ref or Idempotency-Key
    of, with the audit entries and outbox events of what was inserted; the ids inserted."""
    if not rows:
        return set()
    return await ingest_rows(db).insert(rows, recorded_at, _Outbox())


async def find_by_keys(
    db: native.Db,
    client_id: uuid.UUID,
    source_refs: Collection[str],
    idempotency_keys: Collection[str],
) -> list[Stored]:
    """The client's stored certifications with one of these source_refs or keys."""
    if not source_refs and not idempotency_keys:
        return []
    return await ingest_rows(db).by_keys(client_id, source_refs, idempotency_keys)


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
    return orjson.dumps(document, default=uuid_text, option=orjson.OPT_UTC_Z)


def utc(instant: datetime) -> datetime:
    """An instant as the database gives it back (UTC), so an answer built from the values
    just inserted equals the answer a replay reads back."""
    return instant.astimezone(UTC)
