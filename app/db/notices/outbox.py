"""Outbox events, written once per dedupe key in the transaction of the change, and one
delivery row per subscribed webhook."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OutboxEvent, Webhook, WebhookDelivery
from app.db.native import Statements
from app.db.upsert import insert_for


async def insert_event_once(
    session: AsyncSession,
    event_id: uuid.UUID,
    event_type: str,
    recipient_id: uuid.UUID,
    benefit_id: uuid.UUID | None,
    agency_code: str,
    payload: Mapping[str, object],
    dedupe_key: str,
    created_at: datetime,
) -> uuid.UUID | None:
    """Store the event unless one with its dedupe key is stored: its id, or None."""
    table = OutboxEvent.__table__
    inserted: uuid.UUID | None = await session.scalar(
        insert_for(session, table)
        .values(
            id=event_id,
            event_type=event_type,
            recipient_id=recipient_id,
            benefit_id=benefit_id,
            agency_code=agency_code,
            payload=dict(payload),
            dedupe_key=dedupe_key,
            created_at=created_at,
        )
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return inserted


async def live_webhooks(session: AsyncSession) -> list[Webhook]:
    """Every webhook not deleted."""
    return list(await session.scalars(select(Webhook).where(Webhook.deleted_at.is_(None))))


async def add_deliveries(
    session: AsyncSession,
    deliveries: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    now: datetime,
) -> None:
    """Pending deliveries, due ``now``, of (delivery id, event id, webhook id)."""
    if deliveries:
        await session.execute(
            insert(WebhookDelivery),
            [
                {
                    "id": delivery_id,
                    "event_id": event_id,
                    "webhook_id": webhook_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for delivery_id, event_id, webhook_id in deliveries
            ],
        )


_DELIVER_MANY = """
INSERT INTO webhook_deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at,
                                created_at)
SELECT id, event_id, webhook_id, 'pending', 0, $4, $4
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(id, event_id, webhook_id)
"""


async def add_deliveries_natively(
    statements: Statements,
    deliveries: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    now: datetime,
) -> None:
    """`add_deliveries` in one statement straight on asyncpg (the ingest fast path)."""
    if deliveries:
        await statements.fetch(
            _DELIVER_MANY,
            [delivery_id for delivery_id, _, _ in deliveries],
            [event_id for _, event_id, _ in deliveries],
            [webhook_id for _, _, webhook_id in deliveries],
            now,
        )
