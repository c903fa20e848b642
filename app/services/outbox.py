"""The transactional outbox: status changes become events in the same transaction as the
change, fanned out to one delivery row per subscribed webhook. A worker (`certsvc deliver`)
posts them; nothing is lost when the receiver or the worker is down."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import new_id
from app.db.models import OutboxEvent, Webhook, WebhookDelivery
from app.db.upsert import insert_for
from app.domain.regions import within


class EventType(StrEnum):
    DUE_SOON = "due_soon"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    STOPPED = "stopped"
    CERTIFIED = "certified"


async def emit(
    session: AsyncSession,
    event_type: EventType,
    recipient_id: uuid.UUID,
    benefit_id: uuid.UUID | None,
    agency_code: str,
    payload: dict[str, object],
    dedupe_key: str,
    now: datetime,
) -> bool:
    """Record an event once per dedupe_key; False when it was already recorded."""
    event_id = await session.scalar(
        insert_for(session, OutboxEvent)
        .values(
            id=new_id(),
            event_type=event_type.value,
            recipient_id=recipient_id,
            benefit_id=benefit_id,
            agency_code=agency_code,
            payload=payload,
            dedupe_key=dedupe_key,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(OutboxEvent.id)
    )
    if event_id is None:
        return False
    hooks = await session.scalars(select(Webhook).where(Webhook.deleted_at.is_(None)))
    for hook in hooks:
        if event_type.value in hook.events and (
            not hook.regions or within(agency_code, hook.regions)
        ):
            session.add(
                WebhookDelivery(
                    id=new_id(),
                    event_id=event_id,
                    webhook_id=hook.id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    await session.flush()
    return True
