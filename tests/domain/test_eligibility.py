from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.eligibility import (
    BenefitFacts,
    CertificationFact,
    Eligibility,
    RecipientFacts,
    evaluate_eligibility,
)
from app.domain.enums import (
    BenefitType,
    Channel,
    EligibilityStatus,
    Residence,
    ResumptionMode,
)
from app.domain.events import NO_EVENTS
from app.domain.months import Month
from app.domain.policy import Policy
from tests.domain.strategies import (
    EVENT_REASONS,
    Case,
    cases_with_certifications,
    certifications,
    shuffled,
)
from tests.domain.timeline import AGENCY, BEIJING, HUNAN, SHANXI

B = BenefitType
S = EligibilityStatus
_ids = itertools.count(1)


def benefit(
    benefit_type: BenefitType = B.WORK_INJURY_DEPENDENT,
    policy: Policy = SHANXI,
    *,
    approved: bool = True,
    start: date = date(2019, 5, 1),
    funeral_subsidy_area: bool | None = None,
) -> BenefitFacts:
    return BenefitFacts(
        benefit_id="b1",
        benefit_type=benefit_type,
        agency_code=AGENCY[policy.province],
        start_date=start,
        approved=approved,
        funeral_subsidy_area=funeral_subsidy_area,
    )


def recipient(emergency_contacts: int = 1) -> RecipientFacts:
    return RecipientFacts(residence=Residence.IN_PROVINCE, emergency_contacts=emergency_contacts)


def cert(
    occurred: str | datetime,
    *,
    counted: bool = True,
    channel: Channel = Channel.FACE,
    recorded: datetime | None = None,
    revoked: datetime | None = None,
) -> CertificationFact:
    """A certification; a bare date means 10:00 Beijing time that day."""
    occurred_at = (
        occurred
        if isinstance(occurred, datetime)
        else datetime.fromisoformat(occurred).replace(hour=10, tzinfo=BEIJING)
    )
    return CertificationFact(
        certification_id=f"c{next(_ids)}",
        channel=channel,
        occurred_at=occurred_at,
        recorded_at=recorded or occurred_at + timedelta(minutes=1),
        counted=counted,
        revoked_at=revoked,
    )


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=BEIJING)


def evaluate(
    on: str,
    *certs: CertificationFact,
    benefit_facts: BenefitFacts | None = None,
    contacts: int = 1,
    policy: Policy = SHANXI,
    known_at: datetime | None = None,
) -> Eligibility:
    return evaluate_eligibility(
        benefit_facts or benefit(policy=policy),
        recipient(contacts),
        certs,
        policy,
        date.fromisoformat(on),
        known_at,
    )


# --- DOMAIN.md's worked example -------------------------------------------------------------


def test_worked_example_one_contact_dependent_is_valid_through_august() -> None:
    march = cert("2026-03-15")
    result = evaluate("2026-06-10", march)
    assert result.cycle_months == 6
    assert result.valid_through == result.next_due == date(2026, 8, 31)
    assert (result.status, result.reason, result.payable) == (S.ELIGIBLE, "certified", True)
    assert result.last_certification == march
    assert result.resumption is None
    assert result.policy_id == "shanxi-2026"


def test_worked_example_is_paid_through_the_last_day_of_august() -> None:
    assert evaluate("2026-08-31", cert("2026-03-15")).payable


def test_worked_example_is_withheld_from_september() -> None:
    result = evaluate("2026-09-01", cert("2026-03-15"))
    assert (result.status, result.reason, result.payable) == (S.SUSPENDED, "overdue", False)
    assert result.resumption is ResumptionMode.AUTOMATIC
    assert result.valid_through == date(2026, 8, 31)


# --- cycle lengths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("benefit_type", "contacts", "last_valid_day"),
    [
        (B.WORK_INJURY_DEPENDENT, 2, "2027-02-28"),  # 12 months: 2026-03 … 2027-02
        (B.WORK_INJURY_DEPENDENT, 1, "2026-08-31"),  # 6 months
        (B.WORK_INJURY_DEPENDENT, 0, "2026-05-31"),  # 3 months
        (B.WORK_INJURY_DISABILITY, 0, "2027-02-28"),
        (B.UNEMPLOYMENT, 0, "2027-02-28"),
        (B.ILLNESS_DISABILITY_ALLOWANCE, 0, "2027-02-28"),
        (B.ENTERPRISE_PENSION, 0, "2027-02-28"),
    ],
)
def test_shanxi_cycle_ends_on_the_last_day_of_its_last_month(
    benefit_type: BenefitType, contacts: int, last_valid_day: str
) -> None:
    facts = benefit(benefit_type)
    last = date.fromisoformat(last_valid_day)
    on_last = evaluate(last_valid_day, cert("2026-03-15"), benefit_facts=facts, contacts=contacts)
    assert on_last.valid_through == last
    assert on_last.payable
    day_after = (last + timedelta(days=1)).isoformat()
    after = evaluate(day_after, cert("2026-03-15"), benefit_facts=facts, contacts=contacts)
    assert not after.payable
    assert after.reason == "overdue"


@pytest.mark.parametrize(
    ("benefit_type", "funeral_subsidy_area", "valid_through"),
    [
        (B.ENTERPRISE_PENSION, None, date(2027, 4, 30)),
        (B.WORK_INJURY_NURSING, None, date(2027, 4, 30)),
        (B.WORK_INJURY_DEPENDENT, None, date(2026, 10, 31)),
        (B.RESIDENT_PENSION, True, date(2027, 4, 30)),
        (B.RESIDENT_PENSION, False, date(2026, 10, 31)),
        (B.RESIDENT_PENSION, None, date(2026, 10, 31)),
    ],
)
def test_hunan_cycles_of_twelve_and_six_months(
    benefit_type: BenefitType, funeral_subsidy_area: bool | None, valid_through: date
) -> None:
    facts = benefit(benefit_type, HUNAN, funeral_subsidy_area=funeral_subsidy_area)
    result = evaluate("2026-05-20", cert("2026-05-10"), benefit_facts=facts, policy=HUNAN)
    assert result.valid_through == valid_through


def test_hunan_unemployment_needs_no_certification() -> None:
    facts = benefit(B.UNEMPLOYMENT, HUNAN)
    for on in ("2026-04-20", "2026-06-01", "2030-01-31"):
        result = evaluate(on, benefit_facts=facts, policy=HUNAN)
        assert (result.status, result.reason, result.payable) == (
            S.NOT_REQUIRED,
            "not_required",
            True,
        )
        assert result.cycle_months is None
        assert result.valid_through is None
        assert result.next_due is None


def test_hunan_unemployment_is_not_required_even_before_approval() -> None:
    facts = benefit(B.UNEMPLOYMENT, HUNAN, approved=False)
    assert evaluate("2026-07-01", benefit_facts=facts, policy=HUNAN).status is S.NOT_REQUIRED


# --- month arithmetic in the rules ----------------------------------------------------------


def test_three_month_cycle_from_november_runs_to_the_end_of_january() -> None:
    result = evaluate("2027-01-31", cert("2026-11-20"), contacts=0)
    assert result.valid_through == date(2027, 1, 31)
    assert result.payable
    assert not evaluate("2027-02-01", cert("2026-11-20"), contacts=0).payable


def test_cycle_ending_in_february_ends_on_its_last_day() -> None:
    assert evaluate("2027-01-10", cert("2026-12-05"), contacts=0).valid_through == date(2027, 2, 28)
    assert evaluate("2028-01-10", cert("2027-12-05"), contacts=0).valid_through == date(2028, 2, 29)


def test_late_evening_in_beijing_counts_for_that_month() -> None:
    late_march = cert(datetime(2026, 3, 31, 23, 30, tzinfo=BEIJING))  # 15:30 UTC
    assert evaluate("2026-04-10", late_march, contacts=0).valid_through == date(2026, 5, 31)


def test_utc_afternoon_of_march_31_counts_for_april() -> None:
    april_in_beijing = cert(datetime(2026, 3, 31, 17, 0, tzinfo=UTC))
    assert evaluate("2026-04-10", april_in_beijing, contacts=0).valid_through == date(2026, 6, 30)


def test_certification_after_the_end_of_the_day_asked_about_is_ignored() -> None:
    next_morning = cert(datetime(2026, 9, 1, 0, 30, tzinfo=BEIJING))  # still Aug 31 in UTC
    result = evaluate("2026-08-31", next_morning, benefit_facts=benefit(B.UNEMPLOYMENT))
    assert result.last_certification is None
    assert evaluate("2026-09-01", next_morning).last_certification == next_morning


# --- first certification (Shanxi) -----------------------------------------------------------


@pytest.mark.parametrize("on", ["2026-01-01", "2026-03-15", "2026-04-30"])
def test_uncertified_recipient_is_paid_during_the_first_certification_window(on: str) -> None:
    result = evaluate(on, benefit_facts=benefit(B.UNEMPLOYMENT))
    assert (result.status, result.reason, result.payable) == (
        S.ELIGIBLE,
        "first_certification_window",
        True,
    )
    assert result.valid_through is None
    assert result.next_due == date(2026, 4, 30)


def test_uncertified_recipient_is_suspended_when_enforcement_starts_on_may_1() -> None:
    result = evaluate("2026-05-01", benefit_facts=benefit(B.ILLNESS_DISABILITY_ALLOWANCE))
    assert (result.status, result.reason, result.payable) == (S.SUSPENDED, "never_certified", False)
    assert result.resumption is ResumptionMode.AUTOMATIC
    assert result.next_due == date(2026, 4, 30)


def test_expired_validity_is_paid_until_enforcement_starts() -> None:
    january = cert("2026-01-10")  # 3-month cycle: valid through 2026-03-31
    result = evaluate("2026-04-15", january, contacts=0)
    assert (result.status, result.reason, result.payable) == (
        S.ELIGIBLE,
        "enforcement_not_started",
        True,
    )
    assert result.valid_through == date(2026, 3, 31)
    assert evaluate("2026-05-01", january, contacts=0).reason == "overdue"


def test_shanxi_pension_without_history_gets_the_same_window() -> None:
    facts = benefit(B.ENTERPRISE_PENSION)
    assert evaluate("2026-04-30", benefit_facts=facts).reason == "first_certification_window"
    assert evaluate("2026-05-01", benefit_facts=facts).reason == "never_certified"


def test_hunan_withholds_from_june_2026() -> None:
    facts = benefit(B.ENTERPRISE_PENSION, HUNAN)
    assert evaluate("2026-05-31", benefit_facts=facts, policy=HUNAN).payable
    june = evaluate("2026-06-01", benefit_facts=facts, policy=HUNAN)
    assert (june.status, june.reason) == (S.SUSPENDED, "never_certified")
    expired = cert("2025-03-01")  # valid through 2026-02-28
    may = evaluate("2026-05-15", expired, benefit_facts=facts, policy=HUNAN)
    assert (may.reason, may.payable) == ("enforcement_not_started", True)
    assert evaluate("2026-06-01", expired, benefit_facts=facts, policy=HUNAN).reason == "overdue"


# --- which certifications count -------------------------------------------------------------


def test_newer_certification_restarts_the_cycle() -> None:
    july = cert("2026-07-02")
    result = evaluate("2026-09-10", cert("2026-03-15"), july)
    assert result.valid_through == date(2026, 12, 31)
    assert result.last_certification == july


def test_older_certification_arriving_late_never_shortens_validity() -> None:
    july = cert("2026-07-02")
    late_march = cert("2026-03-15", recorded=at("2026-09-01"))
    result = evaluate("2026-09-10", july, late_march)
    assert result.valid_through == date(2026, 12, 31)
    assert result.last_certification == july


def test_failed_certification_never_counts() -> None:
    result = evaluate("2026-09-10", cert("2026-03-15"), cert("2026-08-20", counted=False))
    assert result.valid_through == date(2026, 8, 31)
    assert not result.payable


def test_revoked_certification_gives_back_its_validity() -> None:
    result = evaluate(
        "2026-09-10", cert("2026-03-15"), cert("2026-08-20", revoked=at("2026-09-01"))
    )
    assert (result.valid_through, result.reason) == (date(2026, 8, 31), "overdue")


def test_revoking_the_only_certification_leaves_none() -> None:
    result = evaluate("2026-06-10", cert("2026-03-15", revoked=at("2026-04-01")))
    assert result.last_certification is None
    assert result.reason == "never_certified"


def test_channel_the_policy_does_not_accept_never_counts() -> None:
    matched = cert("2026-06-05", channel=Channel.DATA_MATCH)
    assert evaluate("2026-06-10", matched).reason == "never_certified"
    facts = benefit(B.ENTERPRISE_PENSION, HUNAN)
    hunan = evaluate("2026-06-10", matched, benefit_facts=facts, policy=HUNAN)
    assert hunan.valid_through == date(2027, 5, 31)


def test_known_at_hides_certifications_recorded_later() -> None:
    august = cert("2026-08-20", recorded=at("2026-09-03"))
    before = evaluate("2026-09-10", cert("2026-03-15"), august, known_at=at("2026-09-02"))
    assert (before.valid_through, before.payable) == (date(2026, 8, 31), False)
    after = evaluate("2026-09-10", cert("2026-03-15"), august, known_at=at("2026-09-03"))
    assert (after.valid_through, after.payable) == (date(2027, 1, 31), True)


def test_known_at_before_a_revocation_still_counts_the_certification() -> None:
    revoked_later = cert("2026-03-15", revoked=at("2026-07-01"))
    assert evaluate("2026-06-10", revoked_later, known_at=at("2026-06-30")).payable
    assert not evaluate("2026-06-10", revoked_later, known_at=at("2026-07-01")).payable


# --- approval -------------------------------------------------------------------------------


def test_unapproved_benefit_without_certification_awaits_it_and_is_not_paid() -> None:
    facts = benefit(B.UNEMPLOYMENT, approved=False, start=date(2026, 3, 1))
    result = evaluate("2026-03-10", benefit_facts=facts)
    assert (result.status, result.reason, result.payable) == (
        S.AWAITING_FIRST_CERTIFICATION,
        "not_certified_yet",
        False,
    )
    assert result.resumption is None
    assert result.next_due is None


def test_unapproved_benefit_with_a_certification_is_eligible() -> None:
    facts = benefit(B.UNEMPLOYMENT, approved=False, start=date(2026, 3, 1))
    result = evaluate("2026-03-10", cert("2026-03-02"), benefit_facts=facts)
    assert (result.status, result.reason, result.payable) == (S.ELIGIBLE, "certified", True)


# --- back pay -------------------------------------------------------------------------------


def test_resumption_lists_the_withheld_months_in_the_resumption_month() -> None:
    certs = (cert("2026-03-15"), cert("2026-11-10"))  # valid through Aug, then resumes in Nov
    result = evaluate("2026-11-20", *certs)
    assert result.back_pay_months == (Month(2026, 9), Month(2026, 10))
    assert evaluate("2026-12-01", *certs).back_pay_months == ()


def test_never_certified_back_pay_starts_at_enforcement() -> None:
    result = evaluate("2026-07-03", cert("2026-07-03"), benefit_facts=benefit(B.UNEMPLOYMENT))
    assert result.back_pay_months == (Month(2026, 5), Month(2026, 6))


def test_months_before_enforcement_are_not_back_pay() -> None:
    # Valid through March, April still paid (enforcement not started), May withheld.
    result = evaluate("2026-06-05", cert("2026-01-10"), cert("2026-06-05"), contacts=0)
    assert result.back_pay_months == (Month(2026, 5),)


def test_months_before_the_benefit_started_are_not_back_pay() -> None:
    facts = benefit(B.UNEMPLOYMENT, start=date(2026, 6, 15))
    result = evaluate("2026-08-02", cert("2026-08-02"), benefit_facts=facts)
    assert result.back_pay_months == (Month(2026, 6), Month(2026, 7))


def test_certifying_again_before_expiry_has_no_back_pay() -> None:
    assert evaluate("2026-08-25", cert("2026-03-15"), cert("2026-08-20")).back_pay_months == ()


def test_overpaid_months_stay_empty() -> None:
    assert evaluate("2026-09-10", cert("2026-03-15")).overpaid_months == ()


# --- misuse ---------------------------------------------------------------------------------


def test_policy_of_another_province_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        evaluate("2026-06-10", benefit_facts=benefit(policy=HUNAN), policy=SHANXI)


def test_naive_certification_time_is_refused() -> None:
    naive = CertificationFact(
        certification_id="c",
        channel=Channel.FACE,
        occurred_at=datetime(2026, 3, 15, 10),
        recorded_at=datetime(2026, 3, 15, 10),
        counted=True,
    )
    with pytest.raises(ValueError, match="naive"):
        evaluate("2026-06-10", naive)


# --- properties -----------------------------------------------------------------------------


# Life events are drawn too, except resumption steps: a certification can split one suspension
# in two, and a step taken in the first part rightly stops counting for the second (policy.md
# §7.4), so there a certification can keep a benefit waiting for a new step.
@settings(max_examples=400)
@given(cases_with_certifications(), st.data())
def test_adding_a_certification_never_makes_a_benefit_less_valid(
    scenario: tuple[Case, list[CertificationFact]], data: st.DataObject
) -> None:
    case, certs = scenario
    extra = data.draw(certifications(case.on, "extra"))
    before = case.evaluate(certs)
    after = case.evaluate([*certs, extra])
    if before.valid_through is not None:
        assert after.valid_through is not None
        assert after.valid_through >= before.valid_through
    if before.payable:
        assert after.payable


@settings(max_examples=400)
@given(cases_with_certifications(with_steps=True), st.data())
def test_result_does_not_depend_on_the_order_of_certifications_or_events(
    scenario: tuple[Case, list[CertificationFact]], data: st.DataObject
) -> None:
    case, certs = scenario
    reordered = data.draw(st.permutations(certs))
    assert case.evaluate(certs) == case.evaluate(reordered, data.draw(shuffled(case.events)))


@settings(max_examples=400)
@given(cases_with_certifications(with_steps=True))
def test_approved_benefit_is_always_paid_before_enforcement_starts(
    scenario: tuple[Case, list[CertificationFact]],
) -> None:
    case, certs = scenario
    enforcement_starts = case.policy.window_for(case.benefit.benefit_type).enforcement_starts
    if case.benefit.approved and case.on < enforcement_starts:
        result = case.evaluate(certs)
        # Only a stop, prison or a suspicion withholds before enforcement.
        assert result.payable or result.reason in EVENT_REASONS
        assert case.evaluate(certs, NO_EVENTS).payable
