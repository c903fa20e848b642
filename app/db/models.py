"""Typed models. Relationships are ``lazy="raise"``: every load is explicit."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, new_id, str_enum, utcnow
from app.domain.enums import (
    BenefitType,
    CertificationResult,
    Channel,
    Residence,
    ResumptionMode,
    Role,
)
from app.domain.events import CaseOutcome, Reporter, StopReason
from app.domain.working_days import DayKind


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
    # The key is refused from this instant on; None: it never expires.
    expires_at: Mapped[datetime | None]


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


class PaymentRun(Base):
    """A month's decisions for an agency prefix, computed as known at ``known_at`` and stored
    unchanged; ``digest`` is the SHA-256 of the NDJSON the items endpoint serves."""

    __tablename__ = "payment_runs"
    __table_args__ = (UniqueConstraint("month", "agency_code", "generation"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    month: Mapped[str] = mapped_column(String(7))
    agency_code: Mapped[str] = mapped_column(String(6))
    generation: Mapped[int]
    on: Mapped[date] = mapped_column("decided_on")
    known_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Raised by each takeover; every write of a computation is conditional on it (a fence).
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    # The benefits in scope in the run's snapshot: the seal proves this many were stored.
    planned_items: Mapped[int | None]
    # host:pid of the process computing the current attempt, for operators.
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    items: Mapped[int] = mapped_column(default=0)
    payable: Mapped[int] = mapped_column(default=0)
    withheld: Mapped[int] = mapped_column(default=0)
    stopped: Mapped[int] = mapped_column(default=0)
    digest: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))


UNSETTLED_ITEMS = "NOT payable OR CAST(back_pay_months AS TEXT) <> '[]'"


class PaymentRunItem(Base):
    """One benefit's decision in a run, in the order the run serves it."""

    __tablename__ = "payment_run_items"
    # Only the items back-pay reconciliation reads (migration 0017,
    # app/db/runs/ledger.py).
    __table_args__ = (
        Index(
            "ix_payment_run_items_unsettled",
            "benefit_id",
            "run_id",
            postgresql_where=text(UNSETTLED_ITEMS),
            sqlite_where=text(UNSETTLED_ITEMS),
        ),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payment_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    benefit_id: Mapped[uuid.UUID]
    recipient_id: Mapped[uuid.UUID]
    agency_code: Mapped[str] = mapped_column(String(6))
    external_ref: Mapped[str | None] = mapped_column(String(64))
    payable: Mapped[bool]
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(40))
    back_pay_months: Mapped[list[str]] = mapped_column(JSON)
    overpaid_months: Mapped[list[str]] = mapped_column(JSON)
    policy_id: Mapped[str] = mapped_column(String(40))
    valid_through: Mapped[date | None]
    last_record_at: Mapped[datetime | None]


class PaymentRunPage(Base):
    """Consecutive items of a run as the NDJSON bytes served (and hashed into its digest),
    stored once when the run is computed, so serving them is a plain read."""

    __tablename__ = "payment_run_pages"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payment_runs.id", ondelete="CASCADE"), primary_key=True
    )
    page: Mapped[int] = mapped_column(primary_key=True)
    first_seq: Mapped[int]
    items: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)


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


class AuditEntry(Base):
    """Append-only record of who changed what. Holds identifiers, never personal data; on
    PostgreSQL a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_clients.id"))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class CalendarSchedule(Base):
    """One loaded version of a year's official holiday arrangement (放假安排): where it came
    from, who loaded it and when. The newest version of a year is the one its days belong to."""

    __tablename__ = "calendar_schedules"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    loaded_by: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(64))  # of the days, so a reload is a no-op


class CalendarDay(Base):
    """A day an official arrangement names: a holiday, or a weekend day made a working day.
    Days it does not name are ordinary (Monday to Friday work)."""

    __tablename__ = "calendar_days"
    __table_args__ = (
        ForeignKeyConstraint(
            ["year", "version"],
            ["calendar_schedules.year", "calendar_schedules.version"],
            name="fk_calendar_days_year_calendar_schedules",
        ),
        Index("ix_calendar_days_year", "year"),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    year: Mapped[int]
    version: Mapped[int]
    kind: Mapped[DayKind] = mapped_column(str_enum(DayKind, 16))
