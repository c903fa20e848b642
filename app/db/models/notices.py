"""Announcing status changes: webhooks, the outbox of events, their deliveries, and what the
last sweep saw of each benefit (so the next announces only transitions)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, new_id, utcnow


class Webhook(Base):
    """A subscriber to status-change events. Its signing secret is stored encrypted (AES-GCM,
    the ID encryption key) because signing needs it back."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(512))
    # Events of recipients outside these prefixes are not sent (empty: everything, admin).
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class OutboxEvent(Base):
    """A status change to announce, written in the transaction of the change that caused it.
    ``dedupe_key`` makes every transition exactly once, however many sweeps see it."""

    __tablename__ = "outbox_events"
    __table_args__ = (UniqueConstraint("dedupe_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_type: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    benefit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("benefits.id", ondelete="CASCADE")
    )
    agency_code: Mapped[str] = mapped_column(String(6))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one webhook: retried with backoff until delivered or parked."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # pending | delivered | parked (retry budget spent) | cancelled (webhook deleted)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status_code: Mapped[int | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BenefitState(Base):
    """What the last sweep saw of a benefit, so the next one announces only transitions."""

    __tablename__ = "benefit_states"

    benefit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("benefits.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(40))
    payable: Mapped[bool]
    valid_through: Mapped[date | None]
    # app.domain.progress.Standing on swept_on; None in rows swept before revision 0016.
    standing: Mapped[str | None] = mapped_column(String(32))
    swept_on: Mapped[date]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
