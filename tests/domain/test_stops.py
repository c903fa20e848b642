"""Stop events, suspicion, verification cases and imprisonment."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

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
    months,
    report,
    step,
)

B = BenefitType
S = EligibilityStatus
R = ResumptionMode
ELIGIBLE = CaseOutcome.CONFIRMED_ELIGIBLE
INELIGIBLE = CaseOutcome.CONFIRMED_INELIGIBLE

# Shanxi dependent with two emergency contacts: certified 2026-03-15, valid through 2027-02-28.
DEPENDENT = benefit(B.WORK_INJURY_DEPENDENT, SHANXI)
DISABILITY = benefit(B.WORK_INJURY_DISABILITY, SHANXI, benefit_id="b2")
SHANXI_PENSION = benefit(B.ENTERPRISE_PENSION, SHANXI, benefit_id="p1")
MARCH = cert("2026-03-15")


# --- death ----------------------------------------------------------------------------------

DEATH = report(StopReason.DEATH, "2026-06-20", "2026-08-05")


def test_death_month_itself_is_still_paid() -> None:
    result = evaluate(DEPENDENT, "2026-06-25", [MARCH], events(DEATH))
    assert (result.status, result.payable, result.stopped_on) == (S.ELIGIBLE, True, None)


def test_death_stops_the_benefit_from_the_next_month() -> None:
    result = evaluate(DEPENDENT, "2026-07-01", [MARCH], events(DEATH))
    assert (result.status, result.reason, result.payable) == (S.STOPPED, "deceased", False)
    assert result.stopped_on == date(2026, 6, 20)
    assert result.resumption is None
    assert result.next_due is None


def test_death_stops_every_benefit_of_the_recipient() -> None:
    result = evaluate(DISABILITY, "2026-09-01", [MARCH], events(DEATH))
    assert (result.status, result.reason) == (S.STOPPED, "deceased")


def test_months_paid_after_the_death_month_are_overpaid_up_to_the_report() -> None:
    # Known on 2026-08-05: July and August were paid, September never was.
    assert evaluate(DEPENDENT, "2026-07-10", [MARCH], events(DEATH)).overpaid_months == (
        Month(2026, 7),
    )
    for on in ("2026-08-20", "2026-10-01", "2027-06-01"):
        result = evaluate(DEPENDENT, on, [MARCH], events(DEATH))
        assert result.overpaid_months == months("2026-07", "2026-08"), on


def test_withheld_months_after_death_are_not_overpaid() -> None:
    # No emergency contact: a 3-month cycle, valid through 2026-05-31, withheld from June.
    result = evaluate(DEPENDENT, "2026-09-10", [cert("2026-03-15")], events(DEATH), contacts=0)
    assert result.overpaid_months == ()


def test_certification_after_the_death_never_counts_and_its_payments_are_overpaid() -> None:
    fraud = cert("2026-07-05")
    short = [cert("2026-03-15"), fraud]  # 3-month cycle: June withheld, July "resumed"
    result = evaluate(DEPENDENT, "2026-09-10", short, events(DEATH), contacts=0)
    assert result.last_certification == short[0]
    assert result.valid_through == date(2026, 5, 31)
    assert result.overpaid_months == months("2026-07", "2026-08")
    before = evaluate(DEPENDENT, "2026-07-10", short, contacts=0)
    assert before.back_pay_months == (Month(2026, 6),)  # paid to the estate: the death month


def test_known_at_hides_a_later_death_report() -> None:
    hidden = evaluate(DEPENDENT, "2026-07-15", [MARCH], events(DEATH), known_at=at("2026-08-04"))
    assert (hidden.status, hidden.payable, hidden.overpaid_months) == (S.ELIGIBLE, True, ())
    known = evaluate(DEPENDENT, "2026-07-15", [MARCH], events(DEATH), known_at=at("2026-08-05"))
    assert (known.status, known.reason) == (S.STOPPED, "deceased")


def test_unapproved_benefit_of_a_dead_person_is_stopped_too() -> None:
    new = benefit(B.UNEMPLOYMENT, SHANXI, approved=False, start=date(2026, 6, 1))
    result = evaluate(new, "2026-08-10", [], events(DEATH))
    assert (result.status, result.reason, result.overpaid_months) == (S.STOPPED, "deceased", ())


# --- suspected death ------------------------------------------------------------------------

SUSPECTED = report(StopReason.DEATH, "2026-05-28", "2026-07-10", suspected=True)


def test_suspicion_withholds_from_the_day_it_is_recorded_not_before() -> None:
    assert evaluate(DEPENDENT, "2026-07-09", [MARCH], events(SUSPECTED)).payable
    result = evaluate(DEPENDENT, "2026-07-10", [MARCH], events(SUSPECTED))
    assert (result.status, result.reason, result.payable) == (
        S.SUSPENDED,
        "verification_required",
        False,
    )
    assert result.overpaid_months == ()


def test_suspicion_alone_never_stops() -> None:
    for on in ("2026-08-01", "2027-01-15", "2031-06-01"):
        result = evaluate(DEPENDENT, on, [MARCH], events(SUSPECTED))
        assert (result.status, result.reason) == (S.SUSPENDED, "verification_required"), on


def test_confirmed_suspected_death_stops_with_overpaid_months() -> None:
    confirmed = case(
        on=SUSPECTED,
        opened="2026-07-11",
        outcome=INELIGIBLE,
        resolved="2026-09-20",
        effective="2026-05-28",
    )
    life = events(SUSPECTED, confirmed)
    waiting = evaluate(DEPENDENT, "2026-09-19", [MARCH], life, known_at=at("2026-09-19"))
    assert (waiting.status, waiting.reason) == (S.SUSPENDED, "verification_required")
    result = evaluate(DEPENDENT, "2026-09-25", [MARCH], life)
    assert (result.status, result.reason, result.payable) == (S.STOPPED, "deceased", False)
    assert result.stopped_on == date(2026, 5, 28)
    # June was paid before the suspicion; July on was withheld.
    assert result.overpaid_months == (Month(2026, 6),)
    assert result.back_pay_months == ()
    # Asked later, with the finding known, the past days are stopped too.
    assert evaluate(DEPENDENT, "2026-09-19", [MARCH], life).reason == "deceased"


def test_refuted_suspected_death_resumes_with_back_pay_in_the_resolution_month() -> None:
    alive = case(on=SUSPECTED, opened="2026-07-11", outcome=ELIGIBLE, resolved="2026-09-20")
    life = events(SUSPECTED, alive)
    assert not evaluate(DEPENDENT, "2026-09-19", [MARCH], life).payable
    result = evaluate(DEPENDENT, "2026-09-20", [MARCH], life)
    assert (result.status, result.reason, result.payable) == (S.ELIGIBLE, "certified", True)
    assert result.back_pay_months == months("2026-07", "2026-08")
    assert result.resumed_after_months == 2
    assert evaluate(DEPENDENT, "2026-10-01", [MARCH], life).back_pay_months == ()


def test_only_months_withheld_because_of_the_suspicion_are_paid_back_on_resolution() -> None:
    short = [cert("2026-03-15")]  # no contact: valid through 2026-05-31, overdue from June
    late = report(StopReason.DEATH, "2026-04-01", "2026-04-10", suspected=True)
    alive = case(on=late, opened="2026-04-11", outcome=ELIGIBLE, resolved="2026-07-20")
    result = evaluate(DEPENDENT, "2026-07-25", short, events(late, alive), contacts=0)
    assert (result.reason, result.back_pay_months) == ("overdue", (Month(2026, 4), Month(2026, 5)))
    back = [*short, cert("2026-08-03")]
    resumed = evaluate(DEPENDENT, "2026-08-03", back, events(late, alive), contacts=0)
    assert resumed.back_pay_months == months("2026-06", "2026-07")


def test_months_before_a_confirmed_loss_withheld_on_suspicion_are_still_owed() -> None:
    unemployment = benefit(B.UNEMPLOYMENT, SHANXI, benefit_id="u1")
    job = report(StopReason.RE_EMPLOYMENT, "2026-06-01", "2026-06-10", suspected=True)
    found = case(
        on=job,
        opened="2026-06-11",
        outcome=INELIGIBLE,
        resolved="2026-09-15",
        effective="2026-07-20",
    )
    result = evaluate(unemployment, "2026-09-15", [MARCH], events(job, found))
    assert (result.status, result.reason, result.stopped_on) == (
        S.STOPPED,
        "re_employment",
        date(2026, 7, 20),
    )
    # Entitled through July: June and July, withheld while verified, are settled now.
    assert result.back_pay_months == months("2026-06", "2026-07")
    assert result.overpaid_months == ()


def test_suspicion_about_one_benefit_withholds_only_that_benefit() -> None:
    suspicion = report(
        StopReason.RE_EMPLOYMENT, "2026-06-01", "2026-06-10", suspected=True, benefit_id="b1"
    )
    assert evaluate(DEPENDENT, "2026-06-15", [MARCH], events(suspicion)).reason == (
        "verification_required"
    )
    assert evaluate(DISABILITY, "2026-06-15", [MARCH], events(suspicion)).payable


# --- benefit-specific stops -----------------------------------------------------------------


def test_re_employment_stops_only_the_named_benefit() -> None:
    unemployment = benefit(B.UNEMPLOYMENT, SHANXI, benefit_id="u1")
    job = report(StopReason.RE_EMPLOYMENT, "2026-06-15", "2026-08-10", benefit_id="u1")
    result = evaluate(unemployment, "2026-09-01", [MARCH], events(job))
    assert (result.status, result.reason, result.payable) == (S.STOPPED, "re_employment", False)
    assert result.stopped_on == date(2026, 6, 15)
    assert result.overpaid_months == months("2026-07", "2026-08")
    assert evaluate(DEPENDENT, "2026-09-01", [MARCH], events(job)).payable


def test_a_report_naming_no_benefit_ends_only_the_types_its_reason_ends() -> None:
    """失业保险条例 第十五条: "享受基本养老保险待遇的" and "移居境外的" stop unemployment benefit;
    工伤保险条例 第三十五条: at retirement "停发伤残津贴，按照国家有关规定享受基本养老保险待遇". A
    started_pension report of 2026-06-15 naming no benefit stops the disability allowance and
    the unemployment benefit from July, never the pension just started; emigrating (2026-06-15)
    stops unemployment benefit only, the pension being certified from abroad; `other` is the
    agency's own finding and stops every benefit it does not narrow down."""
    started = events(report(StopReason.STARTED_PENSION, "2026-06-15", "2026-06-20"))
    unemployment = benefit(B.UNEMPLOYMENT, SHANXI, benefit_id="u1")
    assert evaluate(DISABILITY, "2026-07-01", [MARCH], started).reason == "started_pension"
    assert evaluate(unemployment, "2026-07-01", [MARCH], started).reason == "started_pension"
    kept = evaluate(SHANXI_PENSION, "2026-07-01", [MARCH], started)
    assert (kept.status, kept.payable) == (S.ELIGIBLE, True)

    emigrated = events(report(StopReason.EMIGRATED, "2026-06-15", "2026-06-20"))
    assert evaluate(unemployment, "2026-07-01", [MARCH], emigrated).reason == "emigrated"
    assert evaluate(SHANXI_PENSION, "2026-07-01", [MARCH], emigrated).payable
    assert evaluate(DISABILITY, "2026-07-01", [MARCH], emigrated).payable

    other = events(report(StopReason.OTHER, "2026-06-15", "2026-06-20"))
    assert evaluate(DISABILITY, "2026-07-01", [MARCH], other).reason == "stopped"
    assert evaluate(SHANXI_PENSION, "2026-07-01", [MARCH], other).reason == "stopped"


def test_a_dependent_pension_ends_on_employment_or_enlistment() -> None:
    """因工死亡职工供养亲属范围规定 第六条: "就业或参军的" stop a dependent's pension; the same
    reports leave a pensioner's pension alone."""
    for reason in (StopReason.RE_EMPLOYMENT, StopReason.ENLISTED):
        reported = events(report(reason, "2026-06-15", "2026-06-20"))
        assert evaluate(DEPENDENT, "2026-07-01", [MARCH], reported).reason == reason.value
        assert evaluate(SHANXI_PENSION, "2026-07-01", [MARCH], reported).payable


def test_hunan_unemployment_needs_nothing_until_a_suspicion() -> None:
    unemployment = benefit(B.UNEMPLOYMENT, HUNAN, benefit_id="u1")
    assert evaluate(unemployment, "2027-01-10").reason == "not_required"
    suspicion = report(StopReason.RE_EMPLOYMENT, "2026-12-01", "2027-01-05", suspected=True)
    suspended = evaluate(unemployment, "2027-01-10", [], events(suspicion))
    assert (suspended.status, suspended.reason) == (S.SUSPENDED, "verification_required")
    cleared = case(on=suspicion, opened="2027-01-06", outcome=ELIGIBLE, resolved="2027-03-02")
    resumed = evaluate(unemployment, "2027-03-05", [], events(suspicion, cleared))
    assert (resumed.status, resumed.back_pay_months) == (
        S.NOT_REQUIRED,
        months("2027-01", "2027-02"),
    )
    job = report(StopReason.RE_EMPLOYMENT, "2027-02-10", "2027-02-12", benefit_id="u1")
    stopped = evaluate(unemployment, "2027-03-05", [], events(job))
    assert (stopped.status, stopped.reason) == (S.STOPPED, "re_employment")


# --- imprisonment ---------------------------------------------------------------------------

PENSION = benefit(B.ENTERPRISE_PENSION, HUNAN)
MAY = cert("2026-05-10")  # valid through 2027-04-30
PRISON = report(StopReason.IMPRISONMENT, "2026-06-10", "2026-06-20")


def test_imprisonment_suspends_from_the_next_month_and_sets_the_flag() -> None:
    june = evaluate(PENSION, "2026-06-25", [MAY], events(PRISON))
    assert (june.payable, june.incarcerated) == (True, True)
    july = evaluate(PENSION, "2026-07-10", [MAY], events(PRISON))
    assert (july.status, july.reason, july.payable, july.incarcerated) == (
        S.SUSPENDED,
        "incarcerated",
        False,
        True,
    )


def test_release_without_documents_does_not_clear_the_flag() -> None:
    undocumented = report(StopReason.RELEASE, "2026-12-01", "2026-12-05")
    result = evaluate(PENSION, "2027-01-10", [MAY], events(PRISON, undocumented))
    assert (result.reason, result.incarcerated) == ("incarcerated", True)


def test_documented_release_clears_the_flag_and_prison_months_are_never_paid_back() -> None:
    released = report(StopReason.RELEASE, "2026-12-01", "2026-12-05", documents=True)
    life = events(PRISON, released)
    december = evaluate(PENSION, "2026-12-10", [MAY], life)
    assert (december.reason, december.incarcerated) == ("incarcerated", False)
    january = evaluate(PENSION, "2027-01-10", [MAY], life)
    assert (january.status, january.reason, january.payable) == (S.ELIGIBLE, "certified", True)
    assert january.back_pay_months == ()
    assert january.resumed_after_months == 6


def test_prison_months_paid_before_the_report_are_overpaid() -> None:
    late = report(StopReason.IMPRISONMENT, "2026-06-10", "2026-09-15")
    result = evaluate(PENSION, "2026-10-10", [MAY], events(late))
    assert result.overpaid_months == months("2026-07", "2026-09")


def test_institution_pension_after_prison_needs_employer_verification() -> None:
    institution = benefit(B.INSTITUTION_PENSION, HUNAN)
    released = report(StopReason.RELEASE, "2027-05-20", "2027-05-25", documents=True)
    certs = [MAY, cert("2027-06-05")]
    result = evaluate(institution, "2027-06-10", certs, events(PRISON, released))
    assert (result.reason, result.resumption) == (
        "employer_verification",
        R.EMPLOYER_VERIFICATION,
    )


def test_suspected_imprisonment_withholds_until_verified() -> None:
    suspicion = report(StopReason.IMPRISONMENT, "2026-03-01", "2026-07-05", suspected=True)
    result = evaluate(PENSION, "2026-07-10", [MAY], events(suspicion))
    assert (result.status, result.reason, result.incarcerated) == (
        S.SUSPENDED,
        "verification_required",
        True,
    )
    papers = report(StopReason.RELEASE, "2026-07-20", "2026-07-22", documents=True)
    checked = evaluate(PENSION, "2026-07-25", [MAY], events(suspicion, papers))
    assert (checked.reason, checked.incarcerated) == ("verification_required", False)
    cleared = case(on=suspicion, opened="2026-07-06", outcome=ELIGIBLE, resolved="2026-08-03")
    resumed = evaluate(PENSION, "2026-08-05", [MAY], events(suspicion, cleared))
    assert (resumed.payable, resumed.incarcerated) == (True, False)
    assert resumed.back_pay_months == (Month(2026, 7),)


# --- the agency's own verification (核实停发) ------------------------------------------------


def test_agency_verified_stop_needs_a_continuation_step_and_a_new_certification() -> None:
    verified = case(
        opened="2027-06-01", outcome=INELIGIBLE, resolved="2027-07-10", effective="2027-06-30"
    )
    stopped = evaluate(PENSION, "2027-08-01", [MAY], events(verified))
    assert (stopped.status, stopped.reason, stopped.resumption) == (
        S.STOPPED,
        "stopped",
        R.CONTINUATION_PROCEDURE,
    )
    assert stopped.stopped_on == date(2027, 6, 30)
    september = cert("2027-09-05")
    assert evaluate(PENSION, "2027-09-10", [MAY, september], events(verified)).reason == "stopped"

    continued = step(R.CONTINUATION_PROCEDURE, "2027-10-05")
    life = events(verified, continued)
    resumed = evaluate(PENSION, "2027-10-05", [MAY, september], life)
    assert (resumed.status, resumed.payable) == (S.ELIGIBLE, True)
    # Owed: the overdue months before the finding took effect; never the stopped months.
    assert resumed.back_pay_months == months("2027-05", "2027-06")
    without_certification = evaluate(PENSION, "2027-10-05", [MAY], life)
    assert (without_certification.reason, without_certification.resumption) == (
        "overdue",
        R.CONTINUATION_PROCEDURE,
    )


def test_death_after_an_agency_stop_keeps_the_agency_stops_overpaid_months() -> None:
    # Found ineligible from July 2027 but only on 2027-09-10: July to September were paid and
    # are overpaid. The later death decides the reason; nothing was paid after it to recover.
    certified = cert("2027-05-10")
    verified = case(
        opened="2027-08-01", outcome=INELIGIBLE, resolved="2027-09-10", effective="2027-06-30"
    )
    death = report(StopReason.DEATH, "2027-10-20", "2027-11-02")
    result = evaluate(PENSION, "2027-12-01", [certified], events(verified, death))
    assert (result.status, result.reason, result.stopped_on) == (
        S.STOPPED,
        "deceased",
        date(2027, 10, 20),
    )
    assert result.overpaid_months == months("2027-07", "2027-09")


def test_continuation_step_recorded_before_the_finding_does_not_lift_it() -> None:
    verified = case(
        opened="2027-06-01", outcome=INELIGIBLE, resolved="2027-07-10", effective="2027-06-30"
    )
    early = step(R.CONTINUATION_PROCEDURE, "2027-07-01")
    life = events(verified, early)
    assert evaluate(PENSION, "2027-10-05", [MAY, cert("2027-09-05")], life).reason == "stopped"


def test_case_confirming_eligibility_alone_changes_nothing() -> None:
    verified = case(opened="2027-06-01", outcome=ELIGIBLE, resolved="2027-07-10")
    result = evaluate(PENSION, "2027-08-01", [MAY], events(verified))
    assert (result.status, result.reason) == (S.SUSPENDED, "overdue")


# --- odd facts ------------------------------------------------------------------------------


def test_a_release_report_never_withholds() -> None:
    release = report(StopReason.RELEASE, "2026-06-01", "2026-06-05", suspected=True)
    result = evaluate(PENSION, "2026-07-10", [MAY], events(release))
    assert (result.payable, result.incarcerated) == (True, False)


def test_confirmed_report_refuted_by_its_case_is_withheld_then_paid_back() -> None:
    wrong = report(StopReason.DEATH, "2026-06-20", "2026-07-15")
    alive = case(on=wrong, opened="2026-07-16", outcome=ELIGIBLE, resolved="2026-08-10")
    life = events(wrong, alive)
    july = evaluate(DEPENDENT, "2026-07-20", [MARCH], life)
    assert (july.status, july.reason) == (S.SUSPENDED, "verification_required")
    august = evaluate(DEPENDENT, "2026-08-10", [MARCH], life)
    assert (august.payable, august.back_pay_months, august.overpaid_months) == (
        True,
        (Month(2026, 7),),
        (),
    )


def test_case_resolution_after_known_at_has_not_happened() -> None:
    alive = case(on=SUSPECTED, opened="2026-07-11", outcome=ELIGIBLE, resolved="2026-09-20")
    life = events(SUSPECTED, alive)
    before = evaluate(DEPENDENT, "2026-09-25", [MARCH], life, known_at=at("2026-09-20", hour=14))
    assert before.reason == "verification_required"
    assert evaluate(DEPENDENT, "2026-09-25", [MARCH], life).payable


def test_naive_event_times_are_refused() -> None:
    naive = replace(DEATH, recorded_at=datetime(2026, 8, 5, 12))
    with pytest.raises(ValueError, match="naive"):
        evaluate(DEPENDENT, "2026-09-01", [MARCH], events(naive))
