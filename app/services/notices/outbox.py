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
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import native
from app.db.base import new_id
from app.db.notices import outbox as stored
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
    event_id = await stored.insert_event_once(
        session,
        new_id(),
        event_type.value,
        recipient_id,
        benefit_id,
        agency_code,
        payload,
        dedupe_key,
        now,
    )
    if event_id is None:
        return False
    hooks = await stored.live_webhooks(session)
    await stored.add_deliveries(
        session,
        [
            (new_id(), event_id, hook.id)
            for hook in hooks
            if _subscribed(event_type.value, agency_code, hook.events, hook.regions)
        ],
        now,
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


async def emit_many(session: AsyncSession, events: Sequence[Event], now: datetime) -> int:
    """`emit` for many events, with one look-up of the webhooks; returns how many were new
    (the others were already recorded under their dedupe_key). Ingest on PostgreSQL writes its
    events in its own statement and fans them out with `fan_out`."""
    if not events:
        return 0
    hooks = await stored.live_webhooks(session)
    deliveries: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []
    new = 0
    for event in events:
        event_id = await stored.insert_event_once(
            session,
            new_id(),
            event.event_type.value,
            event.recipient_id,
            event.benefit_id,
            event.agency_code,
            event.payload,
            event.dedupe_key,
            now,
        )
        if event_id is None:
            continue
        new += 1
        deliveries.extend(
            (new_id(), event_id, hook.id)
            for hook in hooks
            if _subscribed(event.event_type.value, event.agency_code, hook.events, hook.regions)
        )
    await stored.add_deliveries(session, deliveries, now)
    return new


async def fan_out(db: native.Db, rows: Sequence[Sequence[Any]], now: datetime) -> None:
    """One delivery row per new event and subscribed webhook. ``rows``: each new event with a
    live webhook, as (event id, event type, agency code, webhook id, its events and its
    regions as JSON text), or with four NULLs when there are no webhooks."""
    assert db.statements is not None
    hooks: dict[uuid.UUID, tuple[list[str], list[str]]] = {}
    deliveries: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []
    for event_id, event_type, agency_code, hook_id, hook_events, hook_regions in rows:
        if hook_id is None:
            continue
        if hook_id not in hooks:
            hooks[hook_id] = (orjson.loads(hook_events), orjson.loads(hook_regions))
        if _subscribed(event_type, agency_code, *hooks[hook_id]):
            deliveries.append((new_id(), event_id, hook_id))
    await stored.add_deliveries_natively(db.statements, deliveries, now)
