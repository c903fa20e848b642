"""The append-only audit log: who changed what, written in the transaction of the change.
Entries carry identifiers and codes, never personal data (no names, no ID numbers)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import native
from app.db.base import new_id
from app.db.keyset import Keyset
from app.db.models import AuditEntry
from app.schemas.audit import AuditEntryRead
from app.schemas.common import Page

_OLDEST_FIRST = Keyset(AuditEntry.at, AuditEntry.id)


async def record(
    session: AsyncSession,
    client_id: uuid.UUID | None,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | str,
    at: datetime,
    *,
    recipient_id: uuid.UUID | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at,
            client_id=client_id,
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            recipient_id=recipient_id,
            detail=detail or {},
        )
    )
    await session.flush()


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry for `record_many`: the arguments of `record`."""

    at: datetime
    client_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: uuid.UUID | str
    recipient_id: uuid.UUID | None
    detail: dict[str, object]


# Appending only: the PostgreSQL trigger that refuses UPDATE and DELETE does not see inserts.
_INSERT_MANY = """
INSERT INTO audit_log (id, at, client_id, action, resource_type, resource_id, recipient_id,
                       detail)
SELECT id, at, client_id, action, resource_type, resource_id, recipient_id, detail::json
FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[],
            $7::uuid[], $8::text[])
  AS t(id, at, client_id, action, resource_type, resource_id, recipient_id, detail)
"""


async def record_many(db: native.Db, entries: Sequence[Entry]) -> None:
    """`record` for many entries in one statement (on PostgreSQL, arrays; on SQLite, one
    executemany), where ``db`` runs its statements."""
    if not entries:
        return
    ids = [new_id() for _ in entries]
    if db.statements is not None:
        await db.statements.fetch(
            _INSERT_MANY,
            ids,
            [entry.at for entry in entries],
            [entry.client_id for entry in entries],
            [entry.action for entry in entries],
            [entry.resource_type for entry in entries],
            [str(entry.resource_id) for entry in entries],
            [entry.recipient_id for entry in entries],
            [orjson.dumps(entry.detail).decode() for entry in entries],
        )
        return
    await db.session.execute(
        insert(AuditEntry),
        [
            {
                "id": entry_id,
                "at": entry.at,
                "client_id": entry.client_id,
                "action": entry.action,
                "resource_type": entry.resource_type,
                "resource_id": str(entry.resource_id),
                "recipient_id": entry.recipient_id,
                "detail": entry.detail,
            }
            for entry_id, entry in zip(ids, entries, strict=True)
        ],
    )


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    since: datetime | None,
    recipient_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntryRead]:
    """Oldest first from ``since``; admin only."""
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if recipient_id is not None:
        query = query.where(AuditEntry.recipient_id == recipient_id)
    rows = list(await session.scalars(_OLDEST_FIRST.query(query, limit, cursor)))
    page, next_cursor = _OLDEST_FIRST.cut(rows, limit)
    return Page(
        items=[
            AuditEntryRead(
                entry_id=row.id,
                at=row.at,
                client_id=row.client_id,
                action=row.action,
                resource_type=row.resource_type,
                resource_id=row.resource_id,
                recipient_id=row.recipient_id,
                detail=dict(row.detail),
            )
            for row in page
        ],
        next_cursor=next_cursor,
    )
