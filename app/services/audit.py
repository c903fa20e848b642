"""The append-only audit log: who changed what, written in the transaction of the change.
Entries carry identifiers and codes, never personal data (no names, no ID numbers)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.models import AuditEntry
from app.schemas.audit import AuditEntryRead
from app.schemas.common import Page
from app.services.pagination import decode_cursor, encode_cursor


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


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    since: datetime | None,
    recipient_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntryRead]:
    """Oldest first from ``since``; admin only."""
    principal.require()
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if recipient_id is not None:
        query = query.where(AuditEntry.recipient_id == recipient_id)
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        query = query.where(tuple_(AuditEntry.at, AuditEntry.id) > tuple_(at, last_id))
    rows = list(
        await session.scalars(query.order_by(AuditEntry.at, AuditEntry.id).limit(limit + 1))
    )
    page = rows[:limit]
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
        next_cursor=encode_cursor(page[-1].at, page[-1].id) if len(rows) > limit else None,
    )
