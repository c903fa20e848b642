"""What a legacy import accepts of a row (app/domain/imports.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from app.domain.enums import CertificationResult
from app.domain.imports import imported_counts, imported_row_problem, reason_kind

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_history_has_no_future_tolerance_and_no_backdate_limit() -> None:
    """At 2026-03-10T12:00Z: a row of that instant loads, one a second later is in the future
    (the API's five minutes of clock drift do not apply), one of 2016-01-01 loads."""
    assert imported_row_problem(NOW, NOW, None, BEIJING) is None
    later = datetime(2026, 3, 10, 12, 0, 1, tzinfo=UTC)
    assert imported_row_problem(later, NOW, None, BEIJING) == "occurred_in_future"
    assert imported_row_problem(datetime(2016, 1, 1, tzinfo=UTC), NOW, None, BEIJING) is None


def test_imported_evidence_may_be_old_but_not_after_its_match() -> None:
    """A match of 2026-02-01T10:00+08:00: evidence of 2020-01-01 loads (no age limit), of
    2026-02-01 loads, of 2026-02-02 is evidence_after_match. 2026-01-31T20:00Z is
    2026-02-01 in Beijing, so evidence of 2026-02-01 is not after it."""
    matched = datetime(2026, 2, 1, 10, 0, tzinfo=BEIJING)
    assert imported_row_problem(matched, NOW, date(2020, 1, 1), BEIJING) is None
    assert imported_row_problem(matched, NOW, date(2026, 2, 1), BEIJING) is None
    problem = imported_row_problem(matched, NOW, date(2026, 2, 2), BEIJING)
    assert problem == "evidence_after_match"
    late_utc = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    assert imported_row_problem(late_utc, NOW, date(2026, 2, 1), BEIJING) is None


def test_the_platform_result_decides_what_counts() -> None:
    """A row recorded passed on 2025-06-01 counts; failed does not (scores not re-judged)."""
    assert imported_counts(CertificationResult.PASSED)
    assert not imported_counts(CertificationResult.FAILED)


def test_rejections_are_counted_by_kind() -> None:
    """``invalid: details.similarity: …`` counts as invalid; a bare code as itself."""
    assert reason_kind("invalid: details.similarity: too big") == "invalid"
    assert reason_kind("unknown_recipient") == "unknown_recipient"
