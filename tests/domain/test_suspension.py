"""Suspension, resumption tiers, back pay and moratoria over months of simulated time."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.enums import BenefitType, EligibilityStatus, ResumptionMode
from app.domain.events import CaseOutcome, StopReason
from app.domain.months import Month
from tests.domain.timeline import (
    HUNAN,
    SHANXI,
    at,
    benefit,
    case,
    cert,
    evaluate,
    events,
    month,
    months,
    moratorium,
    report,
    step,
)

B = BenefitType
S = EligibilityStatus
R = ResumptionMode

PENSION = benefit(B.ENTERPRISE_PENSION, HUNAN)
INSTITUTION = benefit(B.INSTITUTION_PENSION, HUNAN)
# Certified 2026-05-10: valid through 2027-04-30, first withheld month 2027-05.
FIRST = cert("2026-05-10")


# --- Hunan: walking one suspension month by month -------------------------------------------


def test_hunan_pension_is_paid_through_its_cycle_then_suspended_as_overdue() -> None:
    assert evaluate(PENSION, "2027-04-30", [FIRST]).payable
    may = evaluate(PENSION, "2027-05-01", [FIRST])
    assert (may.status, may.reason, may.payable) == (S.SUSPENDED, "overdue", False)
    assert may.back_pay_months == ()


def test_while_suspended_the_tier_a_certification_would_meet_grows_month_by_month() -> None:
    """Certified 2026-05-10 (valid through 2027-04-30), asked 2028-05-15: 12 months withheld
    (2027-05 … 2028-04; a certification made now covers May) → automatic, "暂停待遇1年（含）内";
    asked in 2032-04, 59 months withheld → commitment; 2032-05, 60 → continuation, "超过5年（含）".
    """
    expected = {1: R.AUTOMATIC, 12: R.AUTOMATIC, 13: R.COMMITMENT_REQUIRED}
    expected |= {59: R.COMMITMENT_REQUIRED, 60: R.CONTINUATION_PROCEDURE}
    for suspended, mode in expected.items():
        on = (month("2027-05") + suspended).first_day
        result = evaluate(PENSION, on, [FIRST])
        assert (result.status, result.reason) == (S.SUSPENDED, "overdue"), on
        assert result.resumption is mode, on


def test_returning_six_months_after_the_first_withheld_month_resumes_with_back_pay() -> None:
    back = cert("2027-11-05")
    before = evaluate(PENSION, "2027-11-04", [FIRST, back])
    assert (before.reason, before.back_pay_months) == ("overdue", ())
    result = evaluate(PENSION, "2027-11-05", [FIRST, back])
    assert (result.status, result.reason, result.payable) == (S.ELIGIBLE, "certified", True)
    assert result.back_pay_months == months("2027-05", "2027-10")
    assert result.resumed_after_months == 6
    assert result.resumption is None
    december = evaluate(PENSION, "2027-12-01", [FIRST, back])
    assert (december.payable, december.back_pay_months, december.resumed_after_months) == (
        True,
        (),
        None,
    )


def test_returning_after_exactly_twelve_months_is_still_automatic() -> None:
    result = evaluate(PENSION, "2028-05-20", [FIRST, cert("2028-05-20")])
    assert result.payable
    assert result.back_pay_months == months("2027-05", "2028-04")
    assert result.resumed_after_months == 12


def test_returning_after_eighteen_months_needs_the_commitment_first() -> None:
    back = cert("2028-11-05")
    waiting = evaluate(PENSION, "2028-11-20", [FIRST, back])
    assert (waiting.status, waiting.reason, waiting.payable) == (
        S.SUSPENDED,
        "commitment_required",
        False,
    )
    assert waiting.resumption is R.COMMITMENT_REQUIRED
    assert waiting.valid_through == date(2029, 10, 31)
    assert waiting.back_pay_months == ()

    committed = events(step(R.COMMITMENT_REQUIRED, "2028-12-03"))
    early = evaluate(PENSION, "2028-12-02", [FIRST, back], committed)
    assert early.reason == "commitment_required"
    resumed = evaluate(PENSION, "2028-12-03", [FIRST, back], committed)
    assert (resumed.status, resumed.reason, resumed.payable) == (S.ELIGIBLE, "certified", True)
    # Resumption month = the later of the certification's and the step's: December.
    assert resumed.back_pay_months == months("2027-05", "2028-11")
    assert resumed.resumed_after_months == 19
    assert evaluate(PENSION, "2029-01-10", [FIRST, back], committed).back_pay_months == ()


def test_commitment_made_before_certifying_resumes_in_the_certification_month() -> None:
    back = cert("2028-11-05")
    committed = events(step(R.COMMITMENT_REQUIRED, "2028-10-15"))
    result = evaluate(PENSION, "2028-11-05", [FIRST, back], committed)
    assert result.payable
    assert result.back_pay_months == months("2027-05", "2028-10")
    assert result.resumed_after_months == 18


def test_step_from_before_the_suspension_does_not_count() -> None:
    old = events(step(R.COMMITMENT_REQUIRED, "2027-04-20"))
    result = evaluate(PENSION, "2028-11-20", [FIRST, cert("2028-11-05")], old)
    assert result.reason == "commitment_required"


def test_step_of_another_kind_does_not_count() -> None:
    wrong = events(step(R.EMPLOYER_VERIFICATION, "2028-11-10"))
    result = evaluate(PENSION, "2028-11-20", [FIRST, cert("2028-11-05")], wrong)
    assert result.reason == "commitment_required"


def test_step_recorded_after_known_at_does_not_count_yet() -> None:
    committed = events(step(R.COMMITMENT_REQUIRED, "2028-11-10", recorded="2028-11-25"))
    certs = [FIRST, cert("2028-11-05")]
    assert not evaluate(PENSION, "2028-11-20", certs, committed, known_at=at("2028-11-24")).payable
    assert evaluate(PENSION, "2028-11-20", certs, committed).payable


def test_returning_after_thirty_months_needs_the_commitment() -> None:
    back = cert("2029-11-05")
    waiting = evaluate(PENSION, "2029-11-05", [FIRST, back])
    assert (waiting.reason, waiting.resumption) == ("commitment_required", R.COMMITMENT_REQUIRED)
    done = events(step(R.COMMITMENT_REQUIRED, "2029-11-06"))
    resumed = evaluate(PENSION, "2029-11-06", [FIRST, back], done)
    assert resumed.payable
    assert resumed.back_pay_months == months("2027-05", "2029-10")
    assert resumed.resumed_after_months == 30


def test_returning_after_sixty_one_months_needs_the_continuation_procedure() -> None:
    back = cert("2032-06-05")
    waiting = evaluate(PENSION, "2032-06-05", [FIRST, back])
    assert (waiting.status, waiting.reason, waiting.payable) == (
        S.SUSPENDED,
        "continuation_procedure",
        False,
    )
    assert waiting.resumption is R.CONTINUATION_PROCEDURE
    # A commitment is not enough once five years have passed.
    committed = events(step(R.COMMITMENT_REQUIRED, "2032-06-06"))
    assert evaluate(PENSION, "2032-06-20", [FIRST, back], committed).reason == (
        "continuation_procedure"
    )
    continued = events(step(R.CONTINUATION_PROCEDURE, "2032-07-08"))
    assert not evaluate(PENSION, "2032-06-30", [FIRST, back], continued).payable
    resumed = evaluate(PENSION, "2032-07-08", [FIRST, back], continued)
    assert resumed.payable
    assert resumed.back_pay_months == months("2027-05", "2032-06")
    assert resumed.resumed_after_months == 62


def test_suspended_over_a_year_but_certified_within_two_needs_the_commitment() -> None:
    dependent = benefit(B.WORK_INJURY_DEPENDENT, HUNAN)  # 6-month cycle
    certs = [cert("2026-06-10"), cert("2028-01-10")]  # withheld 2026-12 … 2027-12
    result = evaluate(dependent, "2028-01-10", certs)
    assert (result.reason, result.resumption) == ("commitment_required", R.COMMITMENT_REQUIRED)


def test_a_second_certification_does_not_skip_the_missing_step() -> None:
    certs = [FIRST, cert("2028-11-05"), cert("2029-01-05")]
    assert evaluate(PENSION, "2029-01-20", certs).reason == "commitment_required"


# --- Hunan institution pensions: the employer verifies ---------------------------------------


def test_institution_pension_suspended_over_a_year_needs_employer_verification() -> None:
    back = cert("2028-06-05")  # 13 months after 2027-05
    waiting = evaluate(INSTITUTION, "2028-06-05", [FIRST, back])
    assert (waiting.reason, waiting.resumption) == (
        "employer_verification",
        R.EMPLOYER_VERIFICATION,
    )
    verified = events(step(R.EMPLOYER_VERIFICATION, "2028-06-18"))
    resumed = evaluate(INSTITUTION, "2028-06-20", [FIRST, back], verified)
    assert (resumed.status, resumed.payable) == (S.ELIGIBLE, True)
    assert resumed.back_pay_months == months("2027-05", "2028-05")


def test_institution_pension_back_after_exactly_a_year_needs_employer_verification() -> None:
    """Hunan: "机关事业单位养老保险待遇享受人员暂停待遇1年以上……需由单位核实": 以上 includes
    the number, so certified again 2028-05-05, 12 months withheld (2027-05 … 2028-04), the
    employer verifies; asked the day before, the answer offers the same tier."""
    back = cert("2028-05-05")
    waiting = evaluate(INSTITUTION, "2028-05-05", [FIRST, back])
    assert (waiting.reason, waiting.resumption) == (
        "employer_verification",
        R.EMPLOYER_VERIFICATION,
    )
    assert evaluate(INSTITUTION, "2028-05-04", [FIRST]).resumption is R.EMPLOYER_VERIFICATION


def test_institution_pension_within_a_year_resumes_automatically() -> None:
    result = evaluate(INSTITUTION, "2027-10-05", [FIRST, cert("2027-10-05")])
    assert result.payable
    assert result.back_pay_months == months("2027-05", "2027-09")


def test_institution_pension_with_suspected_incarceration_needs_employer_verification() -> None:
    suspicion = report(StopReason.IMPRISONMENT, "2027-03-01", "2027-06-10", suspected=True)
    verified = case(
        on=suspicion,
        opened="2027-06-11",
        outcome=CaseOutcome.CONFIRMED_ELIGIBLE,
        resolved="2027-07-20",
    )
    certs = [FIRST, cert("2027-08-05")]
    result = evaluate(INSTITUTION, "2027-08-05", certs, events(suspicion, verified))
    assert (result.reason, result.resumption) == (
        "employer_verification",
        R.EMPLOYER_VERIFICATION,
    )
    # The same history on an enterprise pension resumes automatically.
    assert evaluate(PENSION, "2027-08-05", certs, events(suspicion, verified)).payable


# --- Shanxi: automatic resumption with back pay ----------------------------------------------


def test_shanxi_resumes_automatically_with_back_pay_however_long_the_suspension() -> None:
    dependent = benefit(B.WORK_INJURY_DEPENDENT, SHANXI)
    certs = [cert("2026-03-15"), cert("2031-03-02")]  # valid through 2026-08
    result = evaluate(dependent, "2031-03-02", certs, contacts=1)
    assert (result.status, result.reason, result.payable) == (S.ELIGIBLE, "certified", True)
    assert result.back_pay_months == months("2026-09", "2031-02")
    assert result.resumed_after_months == 54
    suspended = evaluate(dependent, "2031-03-01", certs[:1], contacts=1)
    assert suspended.resumption is R.AUTOMATIC


def test_shanxi_back_pay_starts_at_enforcement() -> None:
    allowance = benefit(B.ILLNESS_DISABILITY_ALLOWANCE, SHANXI)
    result = evaluate(allowance, "2026-08-03", [cert("2026-08-03")])
    assert result.back_pay_months == months("2026-05", "2026-07")
    assert result.resumed_after_months == 3


# --- moratoria ------------------------------------------------------------------------------

DEPENDENT = benefit(B.WORK_INJURY_DEPENDENT, SHANXI)
MARCH = cert("2026-03-15")  # one emergency contact: valid through 2026-08-31
OUTAGE = moratorium("1404", {B.WORK_INJURY_DEPENDENT}, "2026-09-01", "2026-10-31")


def test_moratorium_keeps_an_overdue_benefit_payable() -> None:
    result = evaluate(DEPENDENT, "2026-09-15", [MARCH], events(OUTAGE), contacts=1)
    assert (result.status, result.reason, result.payable) == (S.ELIGIBLE, "moratorium", True)
    assert result.moratorium_id == "m1"
    assert result.resumption is None
    after = evaluate(DEPENDENT, "2026-11-01", [MARCH], events(OUTAGE), contacts=1)
    assert (after.reason, after.payable, after.moratorium_id) == ("overdue", False, None)


def test_months_paid_under_a_moratorium_are_not_paid_back() -> None:
    certs = [MARCH, cert("2026-12-05")]
    result = evaluate(DEPENDENT, "2026-12-05", certs, events(OUTAGE), contacts=1)
    assert result.back_pay_months == (Month(2026, 11),)
    assert result.resumed_after_months == 1


def test_moratorium_for_another_region_or_type_does_not_apply() -> None:
    elsewhere = moratorium("1405", {B.WORK_INJURY_DEPENDENT}, "2026-09-01", "2026-10-31")
    other_type = moratorium("14", {B.UNEMPLOYMENT}, "2026-09-01", "2026-10-31")
    for pause in (elsewhere, other_type):
        assert evaluate(DEPENDENT, "2026-09-15", [MARCH], events(pause), contacts=1).reason == (
            "overdue"
        )


def test_moratorium_created_after_known_at_does_not_apply_yet() -> None:
    late = moratorium(
        "14", {B.WORK_INJURY_DEPENDENT}, "2026-09-01", "2026-10-31", created="2026-09-20"
    )
    on = "2026-09-25"
    assert not evaluate(
        DEPENDENT, on, [MARCH], events(late), contacts=1, known_at=at("2026-09-19")
    ).payable
    assert evaluate(DEPENDENT, on, [MARCH], events(late), contacts=1).payable


def test_moratorium_never_covers_a_deceased_recipient() -> None:
    death = report(StopReason.DEATH, "2026-08-10", "2026-08-20")
    result = evaluate(DEPENDENT, "2026-09-15", [MARCH], events(OUTAGE, death), contacts=1)
    assert (result.status, result.reason, result.payable) == (S.STOPPED, "deceased", False)
    assert result.moratorium_id is None


def test_moratorium_never_lifts_a_suspicion() -> None:
    suspicion = report(StopReason.DEATH, "2026-09-01", "2026-09-05", suspected=True)
    result = evaluate(DEPENDENT, "2026-09-15", [MARCH], events(OUTAGE, suspicion), contacts=1)
    assert (result.reason, result.payable) == ("verification_required", False)


def test_moratorium_also_covers_a_missing_resumption_step() -> None:
    # Certifying during a moratorium never stops a payment that not certifying would keep.
    pause = moratorium("43", {B.ENTERPRISE_PENSION}, "2028-11-01", "2028-12-31")
    certs = [FIRST, cert("2028-11-05")]
    uncertified = evaluate(PENSION, "2028-11-20", [FIRST], events(pause))
    certified = evaluate(PENSION, "2028-11-20", certs, events(pause))
    assert uncertified.reason == certified.reason == "moratorium"
    assert certified.payable


@pytest.mark.parametrize("on", ["2026-09-01", "2026-10-31"])
def test_moratorium_dates_are_inclusive(on: str) -> None:
    assert evaluate(DEPENDENT, on, [MARCH], events(OUTAGE), contacts=1).payable
