"""The queries of API clients and of the audit trail (app/services/accounts/)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native
from app.db.base import new_id
from app.db.keyset import Keyset
from app.db.models import ApiClient, AuditEntry
from app.domain.enums import Role

# --- clients ----------------------------------------------------------------------------------


async def clients_by_name(session: AsyncSession) -> Sequence[ApiClient]:
    return (await session.scalars(select(ApiClient).order_by(ApiClient.name))).all()


async def client_named(session: AsyncSession, name: str) -> ApiClient | None:
    return await session.scalar(select(ApiClient).where(ApiClient.name == name))


async def client_holding(session: AsyncSession, key_digest: str) -> ApiClient | None:
    """The client whose key has this digest (revoked or not)."""
    return await session.scalar(select(ApiClient).where(ApiClient.key_digest == key_digest))


async def system_client_id(session: AsyncSession, name: str, revoked_at: datetime) -> uuid.UUID:
    """The id of the system client ``name``, created (revoked, so it can never authenticate,
    with a key nobody holds) when there is none."""
    client_id = await session.scalar(select(ApiClient.id).where(ApiClient.name == name))
    if client_id is not None:
        return client_id
    client = ApiClient(
        name=name,
        role=Role.ADMIN,
        regions=[],
        key_digest=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        key_prefix="system",
        revoked_at=revoked_at,
    )
    session.add(client)
    await session.flush()
    return client.id


# --- audit ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit entry (app/services/accounts/audit.py `record`'s arguments)."""

    at: datetime
    client_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: uuid.UUID | str
    recipient_id: uuid.UUID | None
    detail: dict[str, object]


async def add_entry(session: AsyncSession, entry: Entry) -> None:
    session.add(
        AuditEntry(
            at=entry.at,
            client_id=entry.client_id,
            action=entry.action,
            resource_type=entry.resource_type,
            resource_id=str(entry.resource_id),
            recipient_id=entry.recipient_id,
            detail=entry.detail,
        )
    )
    await session.flush()


# Appending only: the PostgreSQL trigger that refuses UPDATE and DELETE does not see inserts.
_INSERT_MANY = """
INSERT INTO audit_log (id, at, client_id, action, resource_type, resource_id, recipient_id,
                       detail)
SELECT id, at, client_id, action, resource_type, resource_id, recipient_id, detail::json
FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[],
            $7::uuid[], $8::text[])
  AS t(id, at, client_id, action, resource_type, resource_id, recipient_id, detail)
"""


async def insert_entries(db: native.Db, entries: Sequence[Entry]) -> None:
    """Many entries in one statement (on PostgreSQL, arrays; on SQLite, one executemany),
    where ``db`` runs its statements."""
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


_OLDEST_FIRST = Keyset(AuditEntry.at, AuditEntry.id)


async def entries_page(
    session: AsyncSession,
    since: datetime | None,
    recipient_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEntry], str | None]:
    """Entries from ``since`` (of one recipient), oldest first, and the next page's cursor."""
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if recipient_id is not None:
        query = query.where(AuditEntry.recipient_id == recipient_id)
    rows = list(await session.scalars(_OLDEST_FIRST.query(query, limit, cursor)))
    return _OLDEST_FIRST.cut(rows, limit)


async def has_entry(
    session: AsyncSession, action: str, resource_type: str, resource_id: str, since: datetime
) -> bool:
    """Whether an entry of ``action`` on the resource was recorded at or after ``since`` (the
    bound lets the ``at`` index find it among a day's entries)."""
    found = await session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.at >= since,
            AuditEntry.action == action,
            AuditEntry.resource_type == resource_type,
            AuditEntry.resource_id == resource_id,
        )
        .limit(1)
    )
    return found is not None
