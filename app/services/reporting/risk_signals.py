"""Risk signals for fraud review (GET /v1/risk-signals, docs/reporting.md).

Thresholds are the request's, by default app.domain.risk's; the aggregates are
app/db/reporting/signals.py.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.plans import prefer_custom_plans
from app.db.reporting import signals
from app.db.reporting.signals import Key, Window
from app.domain.risk import (
    DEVICE_MIN_RECIPIENTS,
    FAILED_ATTEMPTS_MIN,
    OPERATOR_MIN_PER_DAY,
    SERVICE_POINT_MIN_PER_DAY,
    volume_minimum,
)
from app.errors import Unprocessable
from app.schemas.reporting import (
    AfterDeathSignal,
    FailureSignal,
    ResidenceMismatchSignal,
    RiskSignals,
    RiskThresholds,
    VolumeSignal,
)
from app.services.eligibility.policies import SERVICE_TIMEZONE, today

__all__ = [
    "DEVICE_MIN_RECIPIENTS",
    "FAILED_ATTEMPTS_MIN",
    "OPERATOR_MIN_PER_DAY",
    "SERVICE_POINT_MIN_PER_DAY",
    "risk_signals",
]

SIGNALS_PER_KIND = 100
CERTIFICATIONS_PER_SIGNAL = 50


async def risk_signals(
    session: AsyncSession,
    principal: Principal,
    prefix: str,
    since: date,
    now: datetime,
    thresholds: RiskThresholds,
) -> RiskSignals:
    """Aggregates over the certifications, since ``since`` (Beijing), of recipients with a
    benefit in the region: all attempts count, passed or not."""
    principal.require_prefix(prefix)
    await prefer_custom_plans(session)
    start = datetime.combine(since, time(), SERVICE_TIMEZONE)
    if start > now:
        raise Unprocessable("since is in the future", code="since_in_future")
    days = (today(now) - since).days + 1
    window = Window(prefix, start, now)
    failures = [
        FailureSignal(
            recipient_id=v.key,
            failed_attempts=v.certifications,
            certification_ids=v.certification_ids,
            truncated=v.truncated,
        )
        for v in await _busiest(
            session, window, Key.RECIPIENT, failed_only=True,
            min_certifications=thresholds.failed_attempts_min,
        )
    ]  # fmt: skip
    return RiskSignals(
        agency_code=prefix,
        since=since,
        until=now,
        thresholds=thresholds,
        devices=await _volume_signals(
            session, window, Key.DEVICE, min_recipients=thresholds.device_min_recipients
        ),
        operators=await _volume_signals(
            session,
            window,
            Key.OPERATOR,
            min_certifications=volume_minimum(thresholds.operator_min_per_day, days),
        ),
        service_points=await _volume_signals(
            session,
            window,
            Key.SERVICE_POINT,
            min_certifications=volume_minimum(thresholds.service_point_min_per_day, days),
        ),
        repeated_failures=failures,
        after_death=[
            AfterDeathSignal(
                recipient_id=row.recipient_id,
                certification_id=row.certification_id,
                case_id=row.case_id,
                occurred_at=row.occurred_at,
            )
            for row in await signals.after_death(session, window, SIGNALS_PER_KIND)
        ],
        residence_mismatches=[
            ResidenceMismatchSignal.model_validate(row, from_attributes=True)
            for row in await signals.residence_mismatches(session, window, SIGNALS_PER_KIND)
        ],
    )


async def _busiest(
    session: AsyncSession,
    window: Window,
    key: Key,
    *,
    min_certifications: int | None = None,
    min_recipients: int | None = None,
    failed_only: bool = False,
) -> list[signals.Volume]:
    return await signals.busiest(
        session,
        window,
        key,
        limit=SIGNALS_PER_KIND,
        ids_per_key=CERTIFICATIONS_PER_SIGNAL,
        min_certifications=min_certifications,
        min_recipients=min_recipients,
        failed_only=failed_only,
    )


async def _volume_signals(
    session: AsyncSession,
    window: Window,
    key: Key,
    *,
    min_certifications: int | None = None,
    min_recipients: int | None = None,
) -> list[VolumeSignal]:
    return [
        VolumeSignal(
            key=v.key,
            certifications=v.certifications,
            recipients=v.recipients,
            certification_ids=v.certification_ids,
            truncated=v.truncated,
        )
        for v in await _busiest(
            session,
            window,
            key,
            min_certifications=min_certifications,
            min_recipients=min_recipients,
        )
    ]
