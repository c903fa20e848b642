"""Typed models. Relationships are ``lazy="raise"``: every load is explicit."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, new_id, str_enum, utcnow
from app.domain.enums import BenefitType, CertificationResult, Channel, Residence, Role


class ApiClient(Base):
    """A client system. Its key is stored only as a SHA-256 digest (keys are 256-bit random,
    so a slow password hash would add latency to every request and no security)."""

    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Recipient(Base):
    """A person receiving one or more benefits. The ID number is held only as an HMAC digest
    (the unique key) and an AES-GCM ciphertext; see app/protection.py."""

    __tablename__ = "recipients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    id_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    id_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(64))
    id_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date]
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    residence: Mapped[Residence] = mapped_column(str_enum(Residence, 16))
    emergency_contacts: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    benefits: Mapped[list[Benefit]] = relationship(
        back_populates="recipient", lazy="raise", order_by="Benefit.created_at"
    )


class Benefit(Base):
    """One benefit paid to a recipient by an agency (6-digit GB/T 2260 division code)."""

    __tablename__ = "benefits"
    __table_args__ = (
        UniqueConstraint("recipient_id", "benefit_type", "agency_code"),
        Index("ix_benefits_agency_code", "agency_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The unique constraint below, led by recipient_id, also serves lookups by recipient.
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    benefit_type: Mapped[BenefitType] = mapped_column(str_enum(BenefitType, 40))
    agency_code: Mapped[str] = mapped_column(String(6))
    start_date: Mapped[date]
    approved: Mapped[bool]
    external_ref: Mapped[str | None] = mapped_column(String(64))
    funeral_subsidy_area: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    recipient: Mapped[Recipient] = relationship(back_populates="benefits", lazy="raise")


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
    similarity: Mapped[float | None]
    liveness: Mapped[float | None]
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
