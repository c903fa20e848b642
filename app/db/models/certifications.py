"""Certifications as the channels gave them, and home-visit requests that end in one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, new_id, str_enum, utcnow
from app.domain.enums import CertificationResult, Channel


class Certification(Base):
    """One certification attempt with its channel's evidence, as the channel gave it.

    Failed and below-threshold attempts are kept (``counted`` false) for fraud analysis.
    Revocation marks the record; nothing is ever deleted."""

    __tablename__ = "certifications"
    __table_args__ = (
        # Exactly once per client: a retried source_ref or Idempotency-Key meets these.
        UniqueConstraint("client_id", "source_ref"),
        UniqueConstraint("client_id", "idempotency_key"),
        Index("ix_certifications_recipient_occurred", "recipient_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 32))
    result: Mapped[CertificationResult] = mapped_column(str_enum(CertificationResult, 16))
    counted: Mapped[bool]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    source_ref: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_digest: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, object]] = mapped_column(JSON)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    imported: Mapped[bool] = mapped_column(default=False)
    # Copied out of details for the queries that need them (risk signals, statistics).
    mode: Mapped[str | None] = mapped_column(String(32))
    app: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(128))
    similarity: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[float | None] = mapped_column(Float)
    office: Mapped[str | None] = mapped_column(String(128))
    operator: Mapped[str | None] = mapped_column(String(128))
    service_point: Mapped[str | None] = mapped_column(String(128))
    terminal_id: Mapped[str | None] = mapped_column(String(128))
    source_department: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(128))
    home_visit_request_id: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_clients.id"))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class HomeVisitRequest(Base):
    """An application for a home visit (上门认证): by the recipient, family, employer or
    community, checked, assigned to a visitor, and ended by a certification or an outcome."""

    __tablename__ = "home_visit_requests"
    __table_args__ = (Index("ix_home_visit_requests_agency_status", "agency_code", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    agency_code: Mapped[str] = mapped_column(String(6))
    requested_by: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16))
    # Sealed like a recipient's phone (app/services/recipients/personal_data.py).
    contact_phone_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="open")
    visitor_type: Mapped[str | None] = mapped_column(String(32))
    visitor_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(1000))
    certification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("certifications.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
