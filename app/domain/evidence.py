"""Whether passive life evidence (信息比对认证, a data match) can count, and from when."""

from __future__ import annotations

from datetime import date

from app.domain.months import Month


def passive_evidence_problem(
    evidence_date: date, matched_on: date, recorded_on: date, max_age_months: int
) -> str | None:
    """The code refusing a data match, or None when it may count (from ``evidence_date``).

    Validity counts from the month a certification occurred in, and what proves life is the
    evidence, not the batch that found it: a data match counts from its evidence's own date, so
    evidence dated after the match it was found by cannot be (`evidence_after_match`). Hunan
    matches "每月定期" (monthly): evidence more than ``max_age_months`` months before the month
    of recording is refused (`evidence_too_old`), whatever backdating other channels get."""
    if evidence_date > matched_on:
        return "evidence_after_match"
    if Month.of(recorded_on).index - Month.of(evidence_date).index > max_age_months:
        return "evidence_too_old"
    return None
