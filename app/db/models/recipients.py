"""Recipients, their benefits, and the history of the registry fields a cycle reads."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, new_id, str_enum, utcnow
from app.domain.enums import BenefitType, Residence


class Recipient(Base):
    """A person receiving one or more benefits. The ID number is held only as an HMAC digest
    (the unique key) and an AES-GCM ciphertext (app/protection.py); the name and phone only as
    ciphertexts sealed for their column and row (app/services/recipients/personal_data.py)."""

    __tablename__ = "recipients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    id_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    id_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(64))
    id_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date]
    name_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    phone_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
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


class RegistryHistory(Base):
    """The registry fields a cycle reads, as they were (docs/policy.md §3): one row per value,
    with the instant it holds from (valid time) and the instant the service learned it
    (recorded time). A recipient's number of emergency contacts (``benefit_id`` None) or one
    benefit's funeral-subsidy flag (``benefit_id`` given; the flag may be unknown, NULL).
    Registration writes the first value, each change appends one (``is_change``); rows are
    never changed. Answers read only the rows of recipients with a change: with one value per
    field, the current values are the whole story."""

    __tablename__ = "registry_history"
    __table_args__ = (
        Index("ix_registry_history_recipient_id", "recipient_id", "benefit_id"),
        Index(
            "ix_registry_history_changes",
            "recipient_id",
            postgresql_where=text("is_change"),
            sqlite_where=text("is_change"),
        ),
        CheckConstraint(
            "(benefit_id IS NULL) = (emergency_contacts IS NOT NULL)", name="one_field"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    benefit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("benefits.id", ondelete="CASCADE")
    )
    emergency_contacts: Mapped[int | None]
    funeral_subsidy_area: Mapped[bool | None]
    valid_from: Mapped[datetime]
    recorded_at: Mapped[datetime]
    is_change: Mapped[bool]
