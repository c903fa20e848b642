"""Where a benefit stands for a county's progress report and its reminders (docs/reporting.md):
the engine's status, with an eligible benefit split by whether its next due date falls within
the policy's reminder lead time. The sweep stores the standing it computed here, statistics
count what it stored, and nothing re-derives the rule in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.domain.eligibility import Eligibility
from app.domain.enums import BenefitType, Channel, EligibilityStatus
from app.domain.months import Month
from app.domain.policy import Policy
from app.domain.policy_rules import FirstCertificationWindow
from app.domain.reasons import LACK_OF_CERTIFICATION


class Standing(StrEnum):
    VALID = "valid"
    DUE = "due"
    SUSPENDED = EligibilityStatus.SUSPENDED.value
    STOPPED = EligibilityStatus.STOPPED.value
    AWAITING = EligibilityStatus.AWAITING_FIRST_CERTIFICATION.value
    NOT_REQUIRED = EligibilityStatus.NOT_REQUIRED.value


def due_bound(on: date, lead_months: int) -> date:
    """The first day after the lead time: a next due date before it is due now."""
    return (Month.of(on) + lead_months).first_day


def due_within_lead(next_due: date, on: date, lead_months: int) -> bool:
    """ "提前1个月督促" (Shanxi 三(一)): due from the first day of the last ``lead_months``
    months of validity."""
    return next_due < due_bound(on, lead_months)


def standing_of(answer: Eligibility, on: date, lead_months: int) -> Standing:
    if answer.status is not EligibilityStatus.ELIGIBLE:
        return Standing(answer.status.value)
    # Still due while overdue but payable (grace before enforcement, a moratorium).
    if answer.next_due is not None and due_within_lead(answer.next_due, on, lead_months):
        return Standing.DUE
    return Standing.VALID


def wants_reminder(standing: Standing, reason: str) -> bool:
    """Who a reminder is for (GET /v1/reminders, the outreach list): due soon, or suspended for
    want of what a certification (or the step after a late one) gives; not suspensions a
    certification cannot lift (suspicion, imprisonment)."""
    return standing is Standing.DUE or (
        standing is Standing.SUSPENDED and reason in LACK_OF_CERTIFICATION
    )


# --- the aggregate figures of a progress report ---------------------------------------------

# by_channel covers the last twelve months: every certification a 12-month cycle still counts.
CHANNEL_WINDOW_MONTHS = 12


@dataclass(frozen=True, slots=True)
class WindowScope:
    """One first-certification window (首次资格认证) as its progress is counted: the benefits
    of ``benefit_types`` already paid when the notice brought them in (已领取待遇的人员: started
    before ``coverage_start``), certified once they have a counted certification from
    ``certified_from`` (the first instant of ``coverage_start`` in the policy's zone)."""

    window: FirstCertificationWindow
    certified_from: datetime

    @property
    def benefit_types(self) -> frozenset[BenefitType]:
        return self.window.benefit_types

    @property
    def started_before(self) -> date:
        return self.window.coverage_start


@dataclass(frozen=True, slots=True)
class ProgressScope:
    """What the figures beside the standings count on ``on`` (docs/reporting.md), for SQL to
    filter by: a certification counts as the engine counts one (`evaluate_eligibility`) as far
    as its columns tell: passed the policy's thresholds (``counted``), not revoked, through one
    of ``channels``, occurred before ``until`` (the end of ``on`` in the policy's zone). A
    death confirmed after the fact is the engine's alone to apply."""

    channels: frozenset[Channel]
    until: datetime
    windows: tuple[WindowScope, ...]
    channels_since: date  # by_channel: the first day of the month eleven months before on's
    channels_from: datetime


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``."""
    return datetime.combine(day, time(), tz)


def progress_scope(policy: Policy, on: date) -> ProgressScope:
    since = (Month.of(on) - (CHANNEL_WINDOW_MONTHS - 1)).first_day
    return ProgressScope(
        channels=policy.accepted_channels,
        until=day_start(on + timedelta(days=1), policy.tz),
        windows=tuple(
            WindowScope(window, day_start(window.coverage_start, policy.tz))
            for window in policy.first_certification
        ),
        channels_since=since,
        channels_from=day_start(since, policy.tz),
    )
