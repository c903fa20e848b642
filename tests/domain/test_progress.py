"""The bounds a progress report counts by (app/domain/progress.py), and who a reminder is for."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.domain.enums import BenefitType
from app.domain.policy import load_policies
from app.domain.progress import Standing, progress_scope, wants_reminder
from app.domain.reasons import Reason

POLICIES = load_policies()
BEIJING = ZoneInfo("Asia/Shanghai")


def test_a_progress_report_counts_certifications_by_the_end_of_its_day_in_beijing() -> None:
    """On 2026-07-31 (Shanxi) a certification counts until 2026-08-01 00:00 Beijing, the
    channel mix starts 2025-08-01 (twelve months), and the pension window counts
    certifications from its coverage start, 2026-01-01 00:00 Beijing, for benefits started
    before that day."""
    policy = POLICIES.for_agency("1404", date(2026, 7, 31))
    assert policy is not None
    scope = progress_scope(policy, date(2026, 7, 31))
    assert scope.until == datetime(2026, 8, 1, tzinfo=BEIJING)
    assert scope.channels == policy.accepted_channels
    assert scope.channels_since == date(2025, 8, 1)
    assert scope.channels_from == datetime(2025, 8, 1, tzinfo=BEIJING)
    pensions = next(w for w in scope.windows if BenefitType.ENTERPRISE_PENSION in w.benefit_types)
    assert pensions.started_before == date(2026, 1, 1)
    assert pensions.certified_from == datetime(2026, 1, 1, tzinfo=BEIJING)
    assert len(scope.windows) == len(policy.first_certification)


def test_the_channel_mix_of_a_january_report_starts_in_february_of_the_year_before() -> None:
    """On 2027-01-15 (Hunan) the twelve months start on 2026-02-01."""
    policy = POLICIES.for_agency("4301", date(2027, 1, 15))
    assert policy is not None
    assert progress_scope(policy, date(2027, 1, 15)).channels_since == date(2026, 2, 1)


def test_reminders_go_to_the_due_and_to_suspensions_a_certification_lifts() -> None:
    """Due (e.g. valid through 2026-08-31, asked on 2026-08-01), overdue, never certified or
    awaiting a step after a late certification: reminded. Suspended on a suspicion or for an
    imprisonment, valid, stopped: not."""
    assert wants_reminder(Standing.DUE, Reason.CERTIFIED)
    for reason in (Reason.OVERDUE, Reason.NEVER_CERTIFIED, Reason.COMMITMENT_REQUIRED):
        assert wants_reminder(Standing.SUSPENDED, reason)
    for reason in (Reason.VERIFICATION_REQUIRED, Reason.INCARCERATED):
        assert not wants_reminder(Standing.SUSPENDED, reason)
    assert not wants_reminder(Standing.VALID, Reason.CERTIFIED)
    assert not wants_reminder(Standing.STOPPED, Reason.DECEASED)
