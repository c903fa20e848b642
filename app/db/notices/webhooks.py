"""Webhook subscriptions and their deliveries, as the API lists and re-drives them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.keyset import Keyset
from app.db.models import OutboxEvent, Webhook, WebhookDelivery

_HOOKS = Keyset(Webhook.created_at, Webhook.id)
_DELIVERIES = Keyset(WebhookDelivery.created_at, WebhookDelivery.id, newest_first=True)


async def get(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def page(
    session: AsyncSession, client_id: uuid.UUID | None, limit: int, cursor: str | None
) -> tuple[list[Webhook], str | None]:
    """Live webhooks, oldest first: those of ``client_id``, or every one when None."""
    query = select(Webhook).where(Webhook.deleted_at.is_(None))
    if client_id is not None:
        query = query.where(Webhook.client_id == client_id)
    rows = list(await session.scalars(_HOOKS.query(query, limit, cursor)))
    return _HOOKS.cut(rows, limit)


async def cancel_unsent(
    session: AsyncSession, webhook_id: uuid.UUID, unsent: Sequence[str], error: str
) -> None:
    """Cancel the webhook's deliveries in one of the ``unsent`` statuses."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status.in_(unsent))
        .values(status="cancelled", last_error=error)
    )


def _deliveries() -> Select[WebhookDelivery, str]:
    return select(WebhookDelivery, OutboxEvent.event_type).join(
        OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id
    )


async def delivery_page(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[WebhookDelivery, str]], str | None]:
    """The webhook's deliveries with their event's type, newest first."""
    query = _deliveries().where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = list(await session.execute(_DELIVERIES.query(query, limit, cursor)))
    found, next_cursor = _DELIVERIES.cut(rows, limit, entity=lambda row: row[0])
    return [(delivery, event_type) for delivery, event_type in found], next_cursor


async def delivery(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, str, datetime | None] | None:
    """The delivery, its event's type and when its webhook was deleted (None: live)."""
    row = (
        await session.execute(
            _deliveries()
            .add_columns(Webhook.deleted_at)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one_or_none()
    if row is None:
        return None
    found, event_type, deleted_at = row
    return found, event_type, deleted_at
