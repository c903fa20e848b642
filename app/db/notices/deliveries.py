"""The delivery worker's statements: claim due deliveries, and record what became of them.

Claims take ``FOR UPDATE SKIP LOCKED``: rows another replica is claiming are skipped, not
waited for. SQLite renders no FOR clause and needs none: its writing transactions begin
IMMEDIATE (app/db/engine.py), so claims queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiClient, OutboxEvent, Webhook, WebhookDelivery


async def claim_due(
    session: AsyncSession, at: datetime, batch: int
) -> list[tuple[WebhookDelivery, OutboxEvent, Webhook, ApiClient]]:
    """Up to ``batch`` pending deliveries due at ``at``, the earliest first, locked for this
    transaction, each with its event, webhook and the webhook's client."""
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= at)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(due))
    if not ids:
        return []
    rows = await session.execute(
        select(WebhookDelivery, OutboxEvent, Webhook, ApiClient)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .join(ApiClient, ApiClient.id == Webhook.client_id)
        .where(WebhookDelivery.id.in_(ids))
    )
    return [(delivery, event, hook, client) for delivery, event, hook, client in rows]


async def cancel(session: AsyncSession, delivery_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status="cancelled", last_error=reason)
    )


async def lease(session: AsyncSession, delivery_ids: Sequence[uuid.UUID], until: datetime) -> None:
    """Hide the claimed deliveries from every other replica until ``until``; ``until`` is
    also the claim's token (`record_failure`)."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(list(delivery_ids)))
        .values(next_attempt_at=until)
    )


async def record_delivered(
    session: AsyncSession, delivery_id: uuid.UUID, at: datetime, status_code: int | None
) -> None:
    """Recorded whatever happened to the row meanwhile (lease lost, re-driven, webhook
    deleted): it was delivered, and saying so stops further attempts."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != "delivered")
        .values(
            status="delivered",
            delivered_at=at,
            attempts=WebhookDelivery.attempts + 1,
            last_status_code=status_code,
        )
    )


async def record_failure(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    lease_until: datetime,
    *,
    parked: bool,
    attempts: int,
    next_attempt_at: datetime,
    error: str,
    status_code: int | None,
) -> None:
    """Only while the claim still holds (the row is pending and carries ``lease_until``): a
    delivery an admin re-drove, another replica re-claimed after the lease, or a deletion
    cancelled is not this claim's to reschedule."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at == lease_until,
        )
        .values(
            status="parked" if parked else "pending",
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error,
            last_status_code=status_code,
        )
    )
