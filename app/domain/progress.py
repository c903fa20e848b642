"""Where a benefit stands for a county's progress report and its reminders (docs/reporting.md):
the engine's status, with an eligible benefit split by whether its next due date falls within
the policy's reminder lead time. The sweep stores the standing it computed here, statistics
count what it stored, and nothing re-derives the rule in SQL."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from app.domain.eligibility import Eligibility
from app.domain.enums import EligibilityStatus
from app.domain.months import Month


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
