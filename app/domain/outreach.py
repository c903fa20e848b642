"""Who a county sends a grid worker to rather than a phone reminder (上门认证 outreach).

A recipient due for a reminder is on the outreach list when a reminder is unlikely to reach
them, for each of these reasons: aged 80 or over, paid a benefit because of a disability (they
may not manage an app or a trip), a failed self-service attempt within the last year (they
tried and the app did not work), or no phone on record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from app.domain.enums import BenefitType

OutreachReason = Literal["aged_80_or_over", "disability_benefit", "failed_self_service", "no_phone"]

OUTREACH_MIN_AGE = 80
# Benefits paid because of a disability: the person may not manage an app or a trip.
DISABILITY_TYPES = frozenset(
    {
        BenefitType.WORK_INJURY_DISABILITY,
        BenefitType.WORK_INJURY_NURSING,
        BenefitType.ILLNESS_DISABILITY_ALLOWANCE,
    }
)
# A failed self-service attempt within this many days up to the day of the list counts.
FAILED_LOOKBACK_DAYS = 365


def age_on(born: date, on: date) -> int:
    """Whole years: born 1946-03-11, 79 on 2026-03-10 and 80 on 2026-03-11."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def outreach_reasons(
    born: date,
    on: date,
    benefit_types: Iterable[BenefitType],
    failed_self_service: bool,
    has_phone: bool,
) -> list[OutreachReason]:
    """Why a phone reminder is unlikely to reach the recipient on ``on``, in the order the
    answer lists them; none: a reminder will do."""
    reasons: list[OutreachReason] = []
    if age_on(born, on) >= OUTREACH_MIN_AGE:
        reasons.append("aged_80_or_over")
    if any(benefit_type in DISABILITY_TYPES for benefit_type in benefit_types):
        reasons.append("disability_benefit")
    if failed_self_service:
        reasons.append("failed_self_service")
    if not has_phone:
        reasons.append("no_phone")
    return reasons
