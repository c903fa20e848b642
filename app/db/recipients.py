"""The queries of recipients (app/services/recipients/): registration, look-up by ID digest,
the registry history, and the batches ``certsvc rekey`` walks and rewrites."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import new_id
from app.db.keyset import next_chunk
from app.db.models import Benefit, HomeVisitRequest, Recipient, RegistryHistory, Webhook
from app.db.upsert import insert_for

# --- recipients -------------------------------------------------------------------------------


async def recipient_with_benefits(
    session: AsyncSession, recipient_id: uuid.UUID, *, fresh: bool = False
) -> Recipient | None:
    """The recipient with its benefits loaded; ``fresh``: replacing what the session holds."""
    query = (
        select(Recipient)
        .where(Recipient.id == recipient_id)
        .options(selectinload(Recipient.benefits))
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def recipient(session: AsyncSession, recipient_id: uuid.UUID) -> Recipient:
    return await session.get_one(Recipient, recipient_id)


async def insert_recipient(session: AsyncSession, values: Mapping[str, Any]) -> uuid.UUID | None:
    """Insert the recipient unless its ID digest is registered; its id, None when it was."""
    inserted: uuid.UUID | None = await session.scalar(
        insert_for(session, Recipient)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Recipient.id_digest])
        .returning(Recipient.id)
    )
    return inserted


async def upsert_benefit(
    session: AsyncSession, recipient_id: uuid.UUID, values: Mapping[str, Any], now: datetime
) -> None:
    """Insert the benefit, or update the one of the same type and agency: its start, external
    reference and funeral-subsidy flag; approval only ever from false to true."""
    statement = insert_for(session, Benefit).values(
        id=new_id(), recipient_id=recipient_id, created_at=now, updated_at=now, **values
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Benefit.recipient_id, Benefit.benefit_type, Benefit.agency_code],
            set_={
                "start_date": statement.excluded.start_date,
                "external_ref": statement.excluded.external_ref,
                "funeral_subsidy_area": statement.excluded.funeral_subsidy_area,
                # Approval is one-way: a later registry message never un-approves a benefit.
                "approved": Benefit.approved | statement.excluded.approved,
                "updated_at": now,
            },
        )
    )


# --- by ID digest -----------------------------------------------------------------------------


async def recipient_id_by_digest(
    session: AsyncSession, digests: Collection[bytes]
) -> uuid.UUID | None:
    """The recipient registered under one of these digests (one digest: an equality)."""
    condition: ColumnElement[bool]
    if len(digests) == 1:
        [digest] = digests
        condition = Recipient.id_digest == digest
    else:
        condition = Recipient.id_digest.in_(list(digests))
    return await session.scalar(select(Recipient.id).where(condition))


async def ids_by_digest(
    session: AsyncSession, digests: Collection[bytes]
) -> dict[bytes, uuid.UUID]:
    """The recipients holding these digests, by digest (one statement: callers chunk)."""
    rows = await session.execute(
        select(Recipient.id_digest, Recipient.id).where(Recipient.id_digest.in_(list(digests)))
    )
    return {bytes(digest): recipient_id for digest, recipient_id in rows}


async def set_id_keys(
    session: AsyncSession, recipient_id: uuid.UUID, digest: bytes, ciphertext: bytes
) -> None:
    """Store the recipient's ID number under a new digest and ciphertext."""
    await session.execute(
        update(Recipient)
        .where(Recipient.id == recipient_id)
        .values(id_digest=digest, id_ciphertext=ciphertext)
        .execution_options(synchronize_session=False)
    )


# --- registry history -------------------------------------------------------------------------


async def registry_history(
    session: AsyncSession, recipient_id: uuid.UUID
) -> Sequence[Row[uuid.UUID | None, int | None, bool | None, datetime, datetime]]:
    """Every registry value recorded for the recipient, as (benefit_id, emergency_contacts,
    funeral_subsidy_area, valid_from, recorded_at) rows."""
    return (
        await session.execute(
            select(
                RegistryHistory.benefit_id,
                RegistryHistory.emergency_contacts,
                RegistryHistory.funeral_subsidy_area,
                RegistryHistory.valid_from,
                RegistryHistory.recorded_at,
            ).where(RegistryHistory.recipient_id == recipient_id)
        )
    ).all()


# --- rekey: walks in primary-key order and rewrites ------------------------------------------


async def sealed_recipients(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> Sequence[Row[uuid.UUID, bytes, bytes, bytes | None, bytes | None]]:
    """Recipients after ``after`` by id, as (id, id_digest, id_ciphertext, name_ciphertext,
    phone_ciphertext)."""
    query = select(
        Recipient.id,
        Recipient.id_digest,
        Recipient.id_ciphertext,
        Recipient.name_ciphertext,
        Recipient.phone_ciphertext,
    )
    return (await session.execute(next_chunk(query, Recipient.id, after, limit))).all()


async def sealed_contact_phones(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> Sequence[Row[uuid.UUID, bytes | None]]:
    """Home-visit requests after ``after`` by id, as (id, contact_phone_ciphertext)."""
    query = select(HomeVisitRequest.id, HomeVisitRequest.contact_phone_ciphertext)
    return (await session.execute(next_chunk(query, HomeVisitRequest.id, after, limit))).all()


async def sealed_webhook_secrets(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> Sequence[Row[uuid.UUID, bytes]]:
    """Webhooks after ``after`` by id, as (id, secret_ciphertext)."""
    query = select(Webhook.id, Webhook.secret_ciphertext)
    return (await session.execute(next_chunk(query, Webhook.id, after, limit))).all()


async def reseal(session: AsyncSession, column: Any, rewrites: Sequence[Mapping[str, Any]]) -> None:
    """One executemany on a sealed ``column`` (of its table): each row {b_id, b_old, b_new}
    set to ``b_new`` only if it still holds ``b_old``."""
    table = column.table
    connection = await session.connection()
    await connection.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .where(column == bindparam("b_old"))
        .values({column.name: bindparam("b_new")}),
        list(rewrites),
    )


async def rewrite_id_keys(session: AsyncSession, rewrites: Sequence[Mapping[str, Any]]) -> None:
    """One executemany, on the connection rather than the ORM session: each recipient
    {b_id, b_digest, b_ciphertext} set to the new digest and ciphertext."""
    connection = await session.connection()
    await connection.execute(
        update(Recipient)
        .where(Recipient.id == bindparam("b_id"))
        .values(id_digest=bindparam("b_digest"), id_ciphertext=bindparam("b_ciphertext")),
        list(rewrites),
    )


async def rewrite_webhook_secrets(
    session: AsyncSession, rewrites: Sequence[Mapping[str, Any]]
) -> None:
    """One executemany: each webhook {b_id, b_old, b_new} re-sealed if it still holds b_old."""
    connection = await session.connection()
    await connection.execute(
        update(Webhook)
        .where(Webhook.id == bindparam("b_id"))
        .where(Webhook.secret_ciphertext == bindparam("b_old"))
        .values(secret_ciphertext=bindparam("b_new")),
        list(rewrites),
    )
