"""Webhook subscriptions, their deliveries, and the admin's re-drive of a parked delivery."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import EgressDep, NowDep, PrincipalDep, ProtectorDep, SessionDep
from app.routers.responses import problems
from app.schemas.common import CursorText, Page
from app.schemas.webhooks import DeliveryRead, DeliveryStatus, WebhookCreate, WebhookRead
from app.services.notices import webhooks as service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "",
    response_model=WebhookRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 422),
    summary="Subscribe to status-change events (admin, county)",
)
async def post_webhook(
    body: WebhookCreate,
    session: SessionDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    egress: EgressDep,
    now: NowDep,
) -> WebhookRead:
    """Events are POSTed to `url`, signed with `secret` (HMAC-SHA256 of the body in
    `X-Certsvc-Signature`); see docs/webhooks.md. A county client receives the events of its
    own regions only; the secret is stored encrypted and never returned. 422
    `webhook_url_credentials` for a URL with a user name or password, 422
    `webhook_receiver_refused` for a receiver at this host's own, a loopback, link-local,
    metadata or otherwise refused address."""
    return await service.create_webhook(session, principal, protector, egress, body, now)


@router.get(
    "",
    response_model=Page[WebhookRead],
    responses=problems(403, 422),
    summary="The caller's webhooks (every webhook for an admin)",
)
async def list_webhooks(
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[CursorText | None, Query()] = None,
) -> Page[WebhookRead]:
    """Live (not deleted) webhooks, oldest first."""
    return await service.list_webhooks(session, principal, limit, cursor)


@router.get(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=problems(403, 404, 422),
    summary="One webhook",
)
async def get_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> WebhookRead:
    """The caller's own webhook (any, for an admin); another client's is 404."""
    return await service.get_webhook(session, principal, webhook_id)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(403, 404, 422),
    summary="Unsubscribe",
)
async def delete_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, now: NowDep
) -> Response:
    """Soft delete by the owner or an admin: no new deliveries, and the unsent ones (pending
    or parked) become `cancelled`."""
    await service.delete_webhook(session, principal, webhook_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    responses=problems(403, 404, 422),
    summary="A webhook's deliveries, newest first",
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[CursorText | None, Query()] = None,
) -> Page[DeliveryRead]:
    """Each delivery's status, attempts, next attempt and last error; filter by `status`
    (e.g. `parked`) to find what needs re-driving."""
    return await service.list_deliveries(session, principal, webhook_id, status_, limit, cursor)


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryRead,
    responses=problems(403, 404, 409, 422),
    summary="Re-drive a parked delivery (admin)",
)
async def retry_delivery(
    delivery_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, now: NowDep
) -> DeliveryRead:
    """Makes a parked (or pending) delivery due now, attempts kept: the next worker pass posts
    it, and one more failure parks it again. Delivered or cancelled: 409
    `delivery_not_retryable`."""
    return await service.retry_delivery(session, principal, delivery_id, now)
