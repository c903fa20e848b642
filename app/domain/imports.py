"""What a legacy import (past certifications from the provincial platform) accepts of a row.

History bypasses the API's backdate limit and its scores are not re-judged: the platform's own
pass/fail stands (its thresholds were the policy of the day). What remains is what no history
can be: a certification in the future, or evidence found before it existed.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.domain.enums import CertificationResult


def imported_row_problem(
    occurred_at: datetime, now: datetime, evidence_date: date | None, tz: ZoneInfo
) -> str | None:
    """The reason a row is rejected, or None when it may be loaded. ``evidence_date`` is a data
    match's (None for other channels); unlike at the API, history has no future tolerance and
    no evidence age limit. At 2026-03-10T12:00Z a row of 2026-03-10T12:00:01Z is
    ``occurred_in_future``; a match of 2026-02-01T10:00+08:00 with evidence of 2026-02-02 is
    ``evidence_after_match``, with evidence of 2020-01-01 it is loaded."""
    if occurred_at > now:
        return "occurred_in_future"
    if evidence_date is not None and evidence_date > occurred_at.astimezone(tz).date():
        return "evidence_after_match"
    return None


def imported_counts(result: CertificationResult) -> bool:
    """An imported certification counts when the platform recorded it as passed."""
    return result is CertificationResult.PASSED


def reason_kind(reason: str) -> str:
    """The kind a rejection is counted under: ``invalid: details.x: …`` counts as ``invalid``."""
    return reason.split(":", 1)[0]
