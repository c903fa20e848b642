"""When a reported event can have happened: after the person was born, and for a death, once a
benefit had begun; never after today. Plain rules, no I/O; the service turns a refusal into a
422 with the rule's code."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from app.domain.events import StopReason


class ImplausibleDate(ValueError):
    """A date no event can have; ``code`` is the stable code of the problem answered."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_stop_date(
    reason: StopReason,
    occurred_on: date,
    *,
    born_on: date,
    benefits_began: Iterable[date],
    today: date,
) -> None:
    """Refuse a stop event dated in the future, before the person's birth, or (a death) before
    every benefit it stops began.

    A death before the earliest benefit began means no benefit should ever have been granted:
    that is a correction of the registration, not a stop report, and accepting it would count
    months of overpayment from a date when nothing was paid. A death before a later benefit
    began but after an earlier one is kept: refusing it would keep the earlier one paying.
    """
    if occurred_on > today:
        raise ImplausibleDate("occurred_in_future", "occurred_on is in the future")
    if occurred_on < born_on:
        raise ImplausibleDate(
            "before_birth", "occurred_on is before the birth date in the ID number"
        )
    if reason is StopReason.DEATH:
        began = min(benefits_began, default=None)
        if began is not None and occurred_on < began:
            raise ImplausibleDate(
                "before_benefit_start", "a death is dated before any of its benefits began"
            )


def check_finding_date(
    effective_on: date, *, born_on: date, benefits_began: Iterable[date], today: date
) -> None:
    """Refuse the day a verification found someone ineligible (a case's ``effective_on``)
    when it is in the future, before the person's birth, or before every benefit the case
    concerns began: overpayment is counted from that day (docs/policy.md §7.6), so a day when
    nothing was paid would claim money back that was never paid out."""
    if effective_on > today:
        raise ImplausibleDate("effective_in_future", "effective_on is in the future")
    if effective_on < born_on:
        raise ImplausibleDate(
            "before_birth", "effective_on is before the birth date in the ID number"
        )
    began = min(benefits_began, default=None)
    if began is not None and effective_on < began:
        raise ImplausibleDate(
            "before_benefit_start", "effective_on is before any benefit of the case began"
        )
