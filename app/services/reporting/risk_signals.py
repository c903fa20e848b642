"""Risk signals for fraud review (GET /v1/risk-signals, docs/reporting.md).

Every status here comes from `evaluate_recipient`, over keyset chunks of the recipients with
a benefit in the region and `load_facts` per chunk, or from the sweep's snapshot of the same
answers (`benefit_states`): SQL counts stored answers but never re-derives a rule. Listings
page by cursor or stream as NDJSON, a fresh session per chunk, in constant memory.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    cast,
    distinct,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.filters import in_regions
from app.db.models import Benefit, Certification, VerificationCase
from app.domain.enums import CertificationResult
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
from app.services.reporting.scans import custom_plans

# Defaults, each overridable per request. A family phone certifies two parents; three or more
# people on one device is how agents certifying for the dead (冒领) show up.
DEVICE_MIN_RECIPIENTS = 3
# A window clerk or terminal operator handles well under 100 a day even before a deadline.
OPERATOR_MIN_PER_DAY = 150
# A village service point or bank branch: a few hundred a day at the busiest.
SERVICE_POINT_MIN_PER_DAY = 300
# Repeated failed attempts: someone trying a face that is not theirs, or one who needs a visit.
FAILED_ATTEMPTS_MIN = 3
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
    await custom_plans(session)
    start = datetime.combine(since, time(), SERVICE_TIMEZONE)
    if start > now:
        raise Unprocessable("since is in the future", code="since_in_future")
    days = (today(now) - since).days + 1
    region = select(Benefit.recipient_id).where(in_regions(Benefit.agency_code, [prefix]))
    window = [
        Certification.occurred_at >= start,
        Certification.occurred_at <= now,
        Certification.recipient_id.in_(region),
    ]
    people = func.count(distinct(Certification.recipient_id))
    failures = [
        FailureSignal(recipient_id=key, failed_attempts=count, **ids)
        for key, count, _, ids in await _volume(
            session,
            Certification.recipient_id,
            [*window, Certification.result == CertificationResult.FAILED],
            func.count() >= thresholds.failed_attempts_min,
        )
    ]
    return RiskSignals(
        agency_code=prefix,
        since=since,
        until=now,
        thresholds=thresholds,
        devices=await _volume_signals(
            session, Certification.device_id, window, people >= thresholds.device_min_recipients
        ),
        operators=await _volume_signals(
            session,
            Certification.operator,
            window,
            func.count() >= thresholds.operator_min_per_day * days,
        ),
        service_points=await _volume_signals(
            session,
            Certification.service_point,
            window,
            func.count() >= thresholds.service_point_min_per_day * days,
        ),
        repeated_failures=failures,
        after_death=[
            AfterDeathSignal(
                recipient_id=row.recipient_id,
                certification_id=row.certification_id,
                case_id=row.case_id,
                occurred_at=row.occurred_at,
            )
            for row in await session.execute(
                select(
                    VerificationCase.id.label("case_id"),
                    Certification.recipient_id,
                    Certification.id.label("certification_id"),
                    Certification.occurred_at,
                )
                .join(Certification, Certification.id == VerificationCase.certification_id)
                .where(VerificationCase.reason == "certified_after_death", *window)
                .order_by(Certification.occurred_at)
                .limit(SIGNALS_PER_KIND)
            )
        ],
        residence_mismatches=[
            ResidenceMismatchSignal.model_validate(row, from_attributes=True)
            for row in await session.execute(
                select(
                    Certification.recipient_id,
                    Certification.id.label("certification_id"),
                    Certification.channel,
                    Certification.mode,
                    Certification.occurred_at,
                )
                # The warnings are a JSON list; its text holds the quoted name on both databases.
                .where(*window, cast(Certification.warnings, String).like('%"residence_mismatch"%'))
                .order_by(Certification.occurred_at, Certification.id)
                .limit(SIGNALS_PER_KIND)
            )
        ],
    )


async def _volume_signals(
    session: AsyncSession,
    column: Any,
    window: list[ColumnElement[bool]],
    having: ColumnElement[bool],
) -> list[VolumeSignal]:
    return [
        VolumeSignal(key=key, certifications=count, recipients=recipients, **ids)
        for key, count, recipients, ids in await _volume(session, column, window, having)
    ]


async def _volume(
    session: AsyncSession,
    column: Any,
    window: list[ColumnElement[bool]],
    having: ColumnElement[bool],
) -> list[tuple[Any, int, int, dict[str, Any]]]:
    """Keys of ``column`` whose certifications in the window meet ``having``, busiest first,
    each with the (first few) certifications behind it."""
    count = func.count()
    rows = await session.execute(
        select(column, count, func.count(distinct(Certification.recipient_id)))
        .where(*window, column.is_not(None))
        .group_by(column)
        .having(having)
        .order_by(count.desc(), column)
        .limit(SIGNALS_PER_KIND)
    )
    found = rows.all()
    # The first few certifications of every flagged key in one scan (a query per key would
    # scan the window once per key: 35 s for a province's year on the benchmark).
    ranked = (
        select(
            column.label("key"),
            Certification.id.label("certification_id"),
            func.row_number()
            .over(partition_by=column, order_by=(Certification.occurred_at, Certification.id))
            .label("n"),
        )
        .where(*window, column.in_([key for key, _, _ in found]))
        .subquery()
    )
    behind: dict[Any, list[uuid.UUID]] = {key: [] for key, _, _ in found}
    if found:
        for key, certification_id in await session.execute(
            select(ranked.c.key, ranked.c.certification_id)
            .where(ranked.c.n <= CERTIFICATIONS_PER_SIGNAL)
            .order_by(ranked.c.key, ranked.c.n)
        ):
            behind[key].append(certification_id)
    return [
        (
            key,
            total,
            recipients,
            {"certification_ids": behind[key], "truncated": total > len(behind[key])},
        )
        for key, total, recipients in found
    ]
