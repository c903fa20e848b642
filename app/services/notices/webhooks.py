"""Webhook subscriptions (admin and county clients), their deliveries, and the admin's re-drive
of a parked delivery. Events are written by app/services/notices/outbox.py and posted by
app/services/notices/delivery.py; this module only manages what the API exposes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.models import Webhook, WebhookDelivery
from app.db.notices import webhooks as stored
from app.domain.enums import Role
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.protection import IdProtector
from app.schemas.common import Page
from app.schemas.webhooks import DeliveryRead, DeliveryStatus, WebhookCreate, WebhookRead
from app.services.notices.egress import EgressPolicy, EgressRefused
from app.services.notices.outbox import EventType

# Deliveries nothing will send any more once their webhook is gone.
_UNSENT = ("pending", "parked")
CANCELLED_ERROR = "cancelled: the webhook was deleted"


async def create_webhook(
    session: AsyncSession,
    principal: Principal,
    protector: IdProtector,
    egress: EgressPolicy,
    body: WebhookCreate,
    now: datetime,
) -> WebhookRead:
    """Subscribe the caller. A county client's webhook is bound to the client's regions as
    they are now; an admin's receives every region. A receiver at an address deliveries may
    not reach (app/services/notices/egress.py) is refused now rather than failing every attempt."""
    if principal.role is not Role.ADMIN and not principal.regions:
        # Empty regions mean "everything" on a webhook: never hand that to a county client.
        raise Forbidden("this client has no regions to subscribe to", code="forbidden_region")
    try:
        await egress.check_receiver(body.url)
    except EgressRefused as exc:
        raise Unprocessable(str(exc), code="webhook_receiver_refused") from None
    hook = Webhook(
        url=body.url,
        # One entry per type, in a stable order, however the caller listed them.
        events=[event.value for event in EventType if event in body.events],
        secret_ciphertext=protector.encrypt(body.secret),
        regions=[] if principal.role is Role.ADMIN else sorted(principal.regions),
        client_id=principal.client_id,
        created_at=now,
    )
    session.add(hook)
    await session.flush()
    return to_webhook_read(hook)


async def list_webhooks(
    session: AsyncSession, principal: Principal, limit: int, cursor: str | None
) -> Page[WebhookRead]:
    """Live webhooks, oldest first: the caller's own, or every one for an admin."""
    owner = None if principal.role is Role.ADMIN else principal.client_id
    page, next_cursor = await stored.page(session, owner, limit, cursor)
    return Page(items=[to_webhook_read(row) for row in page], next_cursor=next_cursor)


async def get_webhook(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID
) -> WebhookRead:
    return to_webhook_read(await _owned(session, principal, webhook_id))


async def delete_webhook(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, now: datetime
) -> None:
    """Soft delete: the row stays for the deliveries' history, no new delivery is created for
    it (the outbox skips deleted webhooks), and its unsent deliveries are cancelled in the same
    transaction, so that nothing is posted to a receiver that unsubscribed."""
    hook = await _owned(session, principal, webhook_id)
    hook.deleted_at = now
    await stored.cancel_unsent(session, hook.id, _UNSENT, CANCELLED_ERROR)
    await session.flush()


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[DeliveryRead]:
    """A webhook's deliveries, newest first, keyset-paginated on (created_at, id)."""
    hook = await _owned(session, principal, webhook_id)
    page, next_cursor = await stored.delivery_page(session, hook.id, status, limit, cursor)
    return Page(
        items=[to_delivery_read(delivery, event_type) for delivery, event_type in page],
        next_cursor=next_cursor,
    )


async def retry_delivery(
    session: AsyncSession, principal: Principal, delivery_id: uuid.UUID, now: datetime
) -> DeliveryRead:
    """Re-drive a parked (or pending) delivery: due now, attempts kept, so that one more
    failure parks it again rather than starting a new retry cycle against a receiver that is
    still broken."""
    row = await stored.delivery(session, delivery_id)
    if row is None:
        raise NotFound("no such delivery")
    delivery, event_type, deleted_at = row
    if delivery.status not in _UNSENT or deleted_at is not None:
        raise Conflict(
            f"a {delivery.status} delivery cannot be retried", code="delivery_not_retryable"
        )
    delivery.status = "pending"
    delivery.next_attempt_at = now
    await session.flush()
    return to_delivery_read(delivery, event_type)


async def _owned(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> Webhook:
    """A live webhook the caller owns (any, for an admin). Another client's webhook is
    reported as missing, so that ids cannot be probed."""
    hook = await stored.get(session, webhook_id)
    if (
        hook is None
        or hook.deleted_at is not None
        or (principal.role is not Role.ADMIN and hook.client_id != principal.client_id)
    ):
        raise NotFound("no such webhook")
    return hook


def to_webhook_read(hook: Webhook) -> WebhookRead:
    return WebhookRead(
        webhook_id=hook.id,
        url=_without_credentials(hook.url),
        events=[EventType(event) for event in hook.events],
        regions=list(hook.regions),
        created_by=hook.client_id,
        created_at=_utc(hook.created_at),
    )


def to_delivery_read(delivery: WebhookDelivery, event_type: str) -> DeliveryRead:
    return DeliveryRead(
        delivery_id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=EventType(event_type),
        # The column is a plain string; only the four statuses are ever written to it.
        status=cast(DeliveryStatus, delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=_utc(delivery.next_attempt_at),
        last_error=delivery.last_error,
        last_status_code=delivery.last_status_code,
        delivered_at=None if delivery.delivered_at is None else _utc(delivery.delivered_at),
        created_at=_utc(delivery.created_at),
    )


def _without_credentials(url: str) -> str:
    """A row stored before receivers were refused credentials still never shows them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _utc(instant: datetime) -> datetime:
    """Stored rows come back in UTC; a row written in this request still holds the caller's
    offset. Answer in UTC either way, so that the same row always reads the same."""
    return instant.astimezone(UTC)
