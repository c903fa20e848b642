"""The append-only audit log: who changed what, written in the transaction of the change.
Entries carry identifiers and codes, never personal data (no names, no ID numbers). The
statements are in app/db/accounts.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import accounts, native
from app.db.accounts import Entry
from app.schemas.audit import AuditEntryRead
from app.schemas.common import Page

__all__ = ["Entry", "list_entries", "record", "record_many", "recorded"]


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
    await accounts.add_entry(
        session,
        Entry(at, client_id, action, resource_type, resource_id, recipient_id, detail or {}),
    )


async def recorded(
    session: AsyncSession, action: str, resource_type: str, resource_id: str, since: datetime
) -> bool:
    """Whether ``action`` on the resource has been recorded since ``since``."""
    return await accounts.has_entry(session, action, resource_type, resource_id, since)


async def record_many(db: native.Db, entries: Sequence[Entry]) -> None:
    """`record` for many entries in one statement, where ``db`` runs its statements."""
    await accounts.insert_entries(db, entries)


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    since: datetime | None,
    recipient_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntryRead]:
    """Oldest first from ``since``; admin only."""
    page, next_cursor = await accounts.entries_page(session, since, recipient_id, limit, cursor)
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
