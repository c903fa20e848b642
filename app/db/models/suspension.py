"""What suspends and resumes a benefit: stop reports, verification cases and their contacts,
resumption steps, and moratoria of automatic suspension."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, new_id, str_enum, utcnow
from app.domain.enums import ResumptionMode
from app.domain.events import CaseOutcome, Reporter, StopReason


class StopReport(Base):
    """A reported stop condition. Its effect is derived by the engine, never stored."""

    __tablename__ = "stop_reports"
    __table_args__ = (
        UniqueConstraint("client_id", "source_ref"),
        Index("ix_stop_reports_recipient_id", "recipient_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    benefit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("benefits.id", ondelete="CASCADE")
    )
    reason: Mapped[StopReason] = mapped_column(str_enum(StopReason, 40))
    occurred_on: Mapped[date]
    reported_by: Mapped[Reporter] = mapped_column(str_enum(Reporter, 16))
    suspected: Mapped[bool]
    documents: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(500))
    deadline: Mapped[date]
    late: Mapped[bool]
    # official | provisional (app.domain.working_days.DeadlineBasis): a provisional deadline
    # and its late flag are counted again when the year's arrangement is loaded.
    calendar: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str | None] = mapped_column(String(128))
    request_digest: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class VerificationCase(Base):
    """A verification case (核实台账): who was contacted, how, and how it ended."""

    __tablename__ = "verification_cases"
    __table_args__ = (
        Index("ix_verification_cases_recipient_id", "recipient_id"),
        Index("ix_verification_cases_status_agency", "status", "agency_code"),
        # One open case per recipient, benefit and cause: sweeps and retries never duplicate.
        UniqueConstraint("dedupe_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    benefit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("benefits.id", ondelete="CASCADE")
    )
    agency_code: Mapped[str] = mapped_column(String(6))
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="open")
    stop_report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stop_reports.id"))
    certification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("certifications.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    opened_on: Mapped[date]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[CaseOutcome | None] = mapped_column(str_enum(CaseOutcome, 32))
    effective_on: Mapped[date | None]
    documents: Mapped[list[str]] = mapped_column(JSON, default=list)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_clients.id"))

    contacts: Mapped[list[CaseContact]] = relationship(
        lazy="raise", order_by="CaseContact.recorded_at"
    )


class CaseContact(Base):
    """One attempt to reach the person, family or managing unit, with its outcome."""

    __tablename__ = "case_contacts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verification_cases.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(1000))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResumptionStep(Base):
    """A completed resumption step: commitment (告知承诺), employer verification, or the
    agency's continuation decision (续发)."""

    __tablename__ = "resumption_steps"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ResumptionMode] = mapped_column(str_enum(ResumptionMode, 32))
    completed_on: Mapped[date]
    employer: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(256))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Moratorium(Base):
    """A pause of automatic suspension for a region prefix, benefit types and dates."""

    __tablename__ = "moratoria"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency_code: Mapped[str] = mapped_column(String(6))
    benefit_types: Mapped[list[str]] = mapped_column(JSON)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
