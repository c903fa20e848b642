"""Certifications once stored: the record as answers need it (`Stored`), reading one or a
recipient's page, revocation, and the legacy import's insert."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.facts.convert import certification_fact
from app.db.keyset import Keyset
from app.db.models import Certification
from app.db.upsert import insert_for
from app.domain.eligibility import CertificationFact
from app.domain.enums import CertificationResult, Channel


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
        return certification_fact(self)


async def certification(session: AsyncSession, certification_id: uuid.UUID) -> Certification | None:
    return await session.get(Certification, certification_id)


_NEWEST_FIRST = Keyset(Certification.occurred_at, Certification.id, newest_first=True)


async def recipient_page(
    session: AsyncSession, recipient_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Certification], str | None]:
    """The recipient's certifications, newest first (occurred_at, id), and the next cursor."""
    query = select(Certification).where(Certification.recipient_id == recipient_id)
    rows = list(await session.scalars(_NEWEST_FIRST.query(query, limit, cursor)))
    return _NEWEST_FIRST.cut(rows, limit)


async def revoke(
    session: AsyncSession,
    certification_id: uuid.UUID,
    at: datetime,
    by: uuid.UUID | None,
    reason: str,
) -> bool:
    """Mark it revoked unless it already is; False when it was. A conditional UPDATE, not
    read-then-write: of two racing revocations exactly one finds the row unrevoked."""
    revoked = await session.scalar(
        update(Certification)
        .where(Certification.id == certification_id, Certification.revoked_at.is_(None))
        .values(revoked_at=at, revoked_by=by, revoke_reason=reason)
        .returning(Certification.id)
        .execution_options(synchronize_session=False)
    )
    return revoked is not None


async def insert_imported(session: AsyncSession, values: Sequence[dict[str, Any]]) -> int:
    """Insert the rows no stored row has the keys of; how many were inserted. One executemany:
    SQLAlchemy batches the rows into multi-row INSERTs sized to the driver's parameter limit,
    and RETURNING yields only inserted rows."""
    table = Certification.__table__
    inserted = await session.execute(
        insert_for(session, table).on_conflict_do_nothing().returning(table.c.id), list(values)
    )
    return len(inserted.all())
