"""Choosing the province's policy for a benefit, and the service's notion of today."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from app.domain.enums import BenefitType
from app.domain.policy import Policy, PolicyBook
from app.errors import Unprocessable

# Agencies work in China Standard Time: "today" and "this month" are Beijing's.
SERVICE_TIMEZONE = ZoneInfo("Asia/Shanghai")


class PaidBenefit(Protocol):
    @property
    def benefit_type(self) -> BenefitType: ...
    @property
    def agency_code(self) -> str: ...


def today(now: datetime | None = None) -> date:
    """The date in Beijing at ``now`` (default: the current instant)."""
    return (now or datetime.now(SERVICE_TIMEZONE)).astimezone(SERVICE_TIMEZONE).date()


def policy_for(policies: PolicyBook, benefit: PaidBenefit, on: date) -> Policy:
    """The policy in force on ``on`` for the benefit's province; 422 when none covers it."""
    policy = policies.for_agency(benefit.agency_code, on)
    if policy is None:
        raise Unprocessable(
            f"no policy covers agency {benefit.agency_code}", code="no_policy_for_agency"
        )
    if not policy.covers(benefit.benefit_type):
        raise Unprocessable(
            f"policy {policy.id} does not cover {benefit.benefit_type.value}",
            code="benefit_type_not_covered",
        )
    return policy
