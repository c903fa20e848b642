"""Properties of the rules with life events: what must hold for any history."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.eligibility import CertificationFact
from app.domain.enums import EligibilityStatus
from app.domain.events import CaseOutcome
from app.domain.months import Month
from tests.domain.strategies import EVENT_REASONS, Case, cases_with_certifications, certifications

S = EligibilityStatus
Scenario = tuple[Case, list[CertificationFact]]
LACK_OF_CERTIFICATION = {
    "overdue",
    "never_certified",
    "commitment_required",
    "employer_verification",
    "continuation_procedure",
}


@settings(max_examples=300)
@given(cases_with_certifications(with_steps=True))
def test_suspicion_alone_never_stops_a_benefit(scenario: Scenario) -> None:
    case, certs = scenario
    unverified = replace(
        case.events,
        stops=tuple(replace(stop, suspected=True) for stop in case.events.stops),
        cases=(),
    )
    result = case.evaluate(certs, unverified)
    assert result.status is not S.STOPPED
    assert result.overpaid_months == ()
    assert result.stopped_on is None


@settings(max_examples=300)
@given(cases_with_certifications(with_steps=True), st.data())
def test_no_certification_lifts_a_stop_prison_or_a_suspicion(
    scenario: Scenario, data: st.DataObject
) -> None:
    case, certs = scenario
    before = case.evaluate(certs)
    if before.reason in EVENT_REASONS:
        after = case.evaluate([*certs, data.draw(certifications(case.on, "extra"))])
        assert (after.status, after.reason) == (before.status, before.reason)


@settings(max_examples=300)
@given(cases_with_certifications(with_steps=True))
def test_moratorium_only_lifts_a_suspension_for_lack_of_certification(
    scenario: Scenario,
) -> None:
    case, certs = scenario
    result = case.evaluate(certs)
    if result.reason == "moratorium":
        assert result.payable and result.moratorium_id is not None
        without = case.evaluate(certs, replace(case.events, moratoria=()))
        assert without.reason in LACK_OF_CERTIFICATION
    else:
        assert result.moratorium_id is None


@settings(max_examples=300)
@given(cases_with_certifications(with_steps=True))
def test_money_months_lie_between_the_benefit_start_and_the_month_asked_about(
    scenario: Scenario,
) -> None:
    case, certs = scenario
    result = case.evaluate(certs)
    month, start = Month.of(case.on), Month.of(case.benefit.start_date)
    assert all(start <= m < month for m in result.back_pay_months)
    assert all(start <= m <= month for m in result.overpaid_months)
    assert list(result.back_pay_months) == sorted(set(result.back_pay_months))
    assert list(result.overpaid_months) == sorted(set(result.overpaid_months))
    if result.back_pay_months:
        assert case.benefit.approved


@settings(max_examples=300)
@given(cases_with_certifications(with_steps=True))
def test_status_reason_and_fields_agree(scenario: Scenario) -> None:
    case, certs = scenario
    result = case.evaluate(certs)
    assert (result.status is S.STOPPED) == (result.stopped_on is not None)
    if result.stopped_on is not None:
        assert Month.of(result.stopped_on) < Month.of(case.on)
    if result.status is S.SUSPENDED:
        assert result.resumption is not None
    if result.resumed_after_months is not None:
        assert result.payable and result.resumed_after_months >= 1
    if result.reason == "deceased":
        # Overpaid months follow a stop's month: the death's, an earlier imprisonment's (prison
        # months paid before the report are overpaid too), or an earlier finding of the agency
        # (核实停发, effective_on or the resolution day; docs/policy.md §7.6, §7.7).
        assert all(m > _earliest_stop_month(case) for m in result.overpaid_months)


def _earliest_stop_month(case: Case) -> Month:
    tz = ZoneInfo(case.policy.timezone)
    days = [stop.occurred_on for stop in case.events.stops]
    for verdict in case.events.cases:
        if verdict.outcome is not CaseOutcome.CONFIRMED_INELIGIBLE:
            continue
        if verdict.effective_on is not None:
            days.append(verdict.effective_on)
        elif verdict.resolved_at is not None and verdict.stop_event_id is None:
            days.append(verdict.resolved_at.astimezone(tz).date())
    return min(Month.of(day) for day in days)


@settings(max_examples=300)
@given(cases_with_certifications(with_steps=True))
def test_no_events_answer_as_before(scenario: Scenario) -> None:
    case, certs = scenario
    plain = replace(case, events=replace(case.events, stops=(), cases=(), steps=(), moratoria=()))
    result = plain.evaluate(certs)
    assert result.reason not in EVENT_REASONS
    assert (result.overpaid_months, result.moratorium_id, result.incarcerated) == ((), None, False)
