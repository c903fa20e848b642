"""Payment runs: a month's stored decisions, their items and the NDJSON pages served."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, new_id, utcnow


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
