"""The transactional outbox: status changes become events in the same transaction as the
change, fanned out to one delivery row per subscribed webhook. A worker (`certsvc deliver`)
posts them; nothing is lost when the receiver or the worker is down."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native
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
        if _subscribed(event_type.value, agency_code, hook.events, hook.regions):
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


@dataclass(frozen=True, slots=True)
class Event:
    """One event for `emit_many`: the arguments of `emit`."""

    event_type: EventType
    recipient_id: uuid.UUID
    benefit_id: uuid.UUID | None
    agency_code: str
    payload: dict[str, object]
    dedupe_key: str


def _subscribed(event_type: str, agency_code: str, events: list[str], regions: list[str]) -> bool:
    return event_type in events and (not regions or within(agency_code, regions))


_DELIVER_MANY = """
INSERT INTO webhook_deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at,
                                created_at)
SELECT id, event_id, webhook_id, 'pending', 0, $4, $4
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(id, event_id, webhook_id)
"""


async def emit_many(session: AsyncSession, events: Sequence[Event], now: datetime) -> int:
    """`emit` for many events, with one look-up of the webhooks; returns how many were new
    (the others were already recorded under their dedupe_key). Ingest on PostgreSQL writes its
    events in its own statement and fans them out with `fan_out`."""
    if not events:
        return 0
    hooks = list(await session.scalars(select(Webhook).where(Webhook.deleted_at.is_(None))))
    deliveries: list[dict[str, object]] = []
    new = 0
    for event in events:
        event_id = await session.scalar(
            insert_for(session, OutboxEvent.__table__)
            .values(
                id=new_id(),
                event_type=event.event_type.value,
                recipient_id=event.recipient_id,
                benefit_id=event.benefit_id,
                agency_code=event.agency_code,
                payload=event.payload,
                dedupe_key=event.dedupe_key,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(OutboxEvent.__table__.c.id)
        )
        if event_id is None:
            continue
        new += 1
        deliveries.extend(
            {
                "id": new_id(),
                "event_id": event_id,
                "webhook_id": hook.id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for hook in hooks
            if _subscribed(event.event_type.value, event.agency_code, hook.events, hook.regions)
        )
    if deliveries:
        await session.execute(insert(WebhookDelivery), deliveries)
    return new


async def fan_out(db: native.Db, rows: Sequence[Sequence[Any]], now: datetime) -> None:
    """One delivery row per new event and subscribed webhook. ``rows``: each new event with a
    live webhook, as (event id, event type, agency code, webhook id, its events and its
    regions as JSON text), or with four NULLs when there are no webhooks."""
    assert db.statements is not None
    hooks: dict[uuid.UUID, tuple[list[str], list[str]]] = {}
    deliveries = []
    for event_id, event_type, agency_code, hook_id, hook_events, hook_regions in rows:
        if hook_id is None:
            continue
        if hook_id not in hooks:
            hooks[hook_id] = (orjson.loads(hook_events), orjson.loads(hook_regions))
        if _subscribed(event_type, agency_code, *hooks[hook_id]):
            deliveries.append((event_id, hook_id))
    if deliveries:
        await db.statements.fetch(
            _DELIVER_MANY,
            [new_id() for _ in deliveries],
            [event_id for event_id, _ in deliveries],
            [hook_id for _, hook_id in deliveries],
            now,
        )
