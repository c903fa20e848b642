"""Webhook subscriptions and their deliveries (API.md, "Reminders, notices, reporting")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.schemas.common import InputModel, JsonPattern, refuse_control_characters
from app.services.notices.outbox import EventType

MAX_URL_LENGTH = 2000
# What `_http_url` takes, as far as a pattern says it: http(s), a host name of DNS labels (or
# their punycode), an optional port from 1 to 65535, then path, query or fragment.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})"
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?(?:[/?#][^\s\x00-\x1f\x7f\x85]*)?$"
DeliveryStatus = Literal["pending", "delivered", "parked", "cancelled"]


def _http_url(value: str) -> str:
    """Only http(s) to a named host: other schemes (file:, ftp:, javascript:) would make the
    worker a tool for reaching things that are not webhook receivers."""
    try:
        parts = urlsplit(value)
        # .port raises on a port that is not a number or is out of range.
        if parts.port == 0:
            raise ValueError("port 0")
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if "@" in parts.netloc:
        # Credentials would be sent to the receiver as Basic auth and read back by anyone who
        # lists the webhook; the message names neither (the input is never echoed either).
        raise PydanticCustomError(
            "webhook_url_credentials",
            "the URL may not carry a user name or password; authenticate deliveries by their "
            "signature",
        )
    if any(character.isspace() for character in value):
        raise ValueError("the URL contains whitespace")
    try:
        # What the delivery worker will send to: a host name that is not valid IDNA (or any
        # URL httpx cannot send to) is refused here, not found out at every attempt.
        httpx.URL(value)
    except httpx.InvalidURL:
        raise ValueError("the URL's host is not a valid host name") from None
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    AfterValidator(refuse_control_characters),
    AfterValidator(_http_url),
    JsonPattern(URL_PATTERN),
    Field(
        description="http:// or https:// URL the events are POSTed to",
        examples=["https://county.example.cn/certsvc/events"],
    ),
]
# Kept verbatim (no whitespace stripping): the receiver signs with exactly these characters.
# Visible ASCII only, so that the secret is the same bytes on both sides whatever the
# receiver's text encoding.
WebhookSecret = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=16, max_length=256, pattern=r"^[!-~]+$"),
    Field(description="16 to 256 visible ASCII characters; the HMAC-SHA256 signing key"),
]


class WebhookCreate(InputModel):
    url: WebhookUrl
    events: list[EventType] = Field(min_length=1, max_length=len(EventType))
    secret: WebhookSecret


class WebhookRead(BaseModel):
    """A subscription. The secret is never returned: only the subscriber needs it."""

    webhook_id: uuid.UUID
    url: str
    events: list[EventType]
    regions: list[str] = Field(
        description="events of agencies under these prefixes only; empty: every region (admin)"
    )
    created_by: uuid.UUID = Field(description="the client that subscribed")
    created_at: datetime


class DeliveryRead(BaseModel):
    """One event to one webhook."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID = Field(description="also sent as X-Certsvc-Event-Id; de-duplicate on it")
    event_type: EventType
    status: DeliveryStatus = Field(
        description="pending (waiting for an attempt), delivered, parked (retry budget spent; "
        "an admin may re-drive it), cancelled (the webhook was deleted)"
    )
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    delivered_at: datetime | None
    created_at: datetime
