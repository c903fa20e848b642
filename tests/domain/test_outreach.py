"""Who is on the outreach list (app/domain/outreach.py)."""

from __future__ import annotations

from datetime import date

from app.domain.enums import BenefitType
from app.domain.outreach import age_on, outreach_reasons

ON = date(2026, 3, 10)
PENSION = BenefitType.ENTERPRISE_PENSION


def test_age_counts_whole_years_up_to_the_birthday() -> None:
    """Born 1946-03-11: 79 on 2026-03-10, 80 on 2026-03-11. Born on the leap day 1944-02-29:
    still 81 on 2026-02-28, 82 from 2026-03-01."""
    assert age_on(date(1946, 3, 11), ON) == 79
    assert age_on(date(1946, 3, 11), date(2026, 3, 11)) == 80
    assert age_on(date(1944, 2, 29), date(2026, 2, 28)) == 81
    assert age_on(date(1944, 2, 29), date(2026, 3, 1)) == 82


def test_each_reason_is_listed_in_order() -> None:
    """On 2026-03-10: someone born 1940-01-01 on a disability benefit, who failed a face
    certification and has no phone, has all four reasons; a 60-year-old pensioner with a
    phone and no failure has none."""
    assert outreach_reasons(
        date(1940, 1, 1), ON, [PENSION, BenefitType.WORK_INJURY_DISABILITY], True, False
    ) == ["aged_80_or_over", "disability_benefit", "failed_self_service", "no_phone"]
    assert outreach_reasons(date(1966, 1, 1), ON, [PENSION], False, True) == []
    assert outreach_reasons(date(1946, 3, 11), ON, [PENSION], False, True) == []
    assert outreach_reasons(date(1946, 3, 10), ON, [PENSION], False, True) == ["aged_80_or_over"]
