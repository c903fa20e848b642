"""The full walk: every month from the first one anything could withhold is decided in turn
(`app.domain.suspension.simulate`), so suspensions, resumption tiers, back pay and
overpayments follow from the facts alone. The reference the shortcut must equal."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.eligibility.facts import BenefitFacts, CertificationFact, Eligibility
from app.domain.eligibility.setup import MEMO_LIMIT, Setup, first_walked
from app.domain.eligibility.validity import (
    Ends,
    counted_by_month,
    coverage,
    cycle_ends,
    newest_certification,
)
from app.domain.enums import EligibilityStatus
from app.domain.events import LifeEvents
from app.domain.findings import Findings, find, month_of
from app.domain.months import Month, month_of_instant, month_range
from app.domain.registry import CycleFacts
from app.domain.suspension import (
    MonthState,
    last_day_at,
    paid_months,
    resumed_after,
    resumption_of,
    simulate,
)

S = EligibilityStatus


def walk(
    setup: Setup,
    benefit: BenefitFacts,
    certifications: tuple[CertificationFact, ...],
    counted: dict[int, CertificationFact],
    ends: Ends | None,
    history: CycleFacts | None,
    findings: Findings,
    on: date,
    known_at: datetime | None,
    events: LifeEvents,
) -> Eligibility:
    """The answer for ``on`` with every month walked."""
    terms = setup.terms
    cycle = terms.cycle
    window = terms.window
    begin = first_walked(setup, benefit, findings, on)
    covers = coverage(counted, cycle, ends, findings, setup.tz)
    if ends is not None:
        cycle = ends.newest_cycle
    states = simulate(terms, covers, findings, begin, on)
    last = newest_certification(counted)
    newest = covers[-1] if covers else None
    state = states[-1]
    decision = state.decision

    valid_through = next_due = None
    if cycle is not None and (last is not None or terms.approved):
        valid_through = None if newest is None else last_day_at(newest.last.index)
        next_due = valid_through or window.first_certification_deadline
    stopped = decision.status is S.STOPPED
    overpaid = (
        _overpaid(setup, benefit, certifications, history, findings, begin, on, events)
        if findings.death is not None or findings.stops or findings.incarcerations
        else ()
    )
    return Eligibility(
        setup.policy.id,
        decision.status,
        decision.reason,
        decision.payable,
        cycle,
        valid_through,
        None if stopped else next_due,
        last,
        resumption_of(terms, states, newest),
        state.back_pay,
        overpaid,
        state.moratorium_id,
        findings.flagged(on),
        resumed_after(states),
        state.stop.on if stopped and state.stop is not None else None,
    )


def month_states(
    setup: Setup,
    certifications: tuple[CertificationFact, ...],
    history: CycleFacts | None,
    findings: Findings,
    start: Month,
    until: date,
    known_at: datetime | None,
) -> list[MonthState]:
    """Each month from ``start`` through ``until``'s, decided as known at ``known_at``."""
    counted = counted_by_month(certifications, setup, until, known_at, findings)
    ends = cycle_ends(setup, counted, history, known_at)
    covers = coverage(counted, setup.terms.cycle, ends, findings, setup.tz)
    return simulate(setup.terms, covers, findings, start, until)


def _overpaid(
    setup: Setup,
    benefit: BenefitFacts,
    certifications: tuple[CertificationFact, ...],
    history: CycleFacts | None,
    findings: Findings,
    start: Month,
    on: date,
    events: LifeEvents,
) -> tuple[Month, ...]:
    """Months after a stop's month that were paid, as known just before the stop was known:
    through the month it became known, and never after ``on``'s month (多领, to recover)."""
    overpaid: set[Month] = set()
    month = month_of(on)
    for stop in findings.every_stop:
        bound = min(month, _month_of_instant(stop.known_at, setup.tz))
        months = {m for m in month_range(stop.last_paid + 1, bound + 1) if stop.covers(m)}
        if not months:
            continue
        before = stop.known_at - timedelta(microseconds=1)
        until = on if bound == month else last_day_at(bound.index)
        earlier = find(
            events,
            benefit.benefit_id,
            benefit.benefit_type,
            benefit.agency_code,
            setup.tz,
            before,
        )
        states = month_states(setup, certifications, history, earlier, start, until, before)
        overpaid |= months & paid_months(states)
    return tuple(sorted(overpaid))


_INSTANT_MONTHS: dict[tuple[datetime, int, ZoneInfo], Month] = {}


def _month_of_instant(instant: datetime, tz: ZoneInfo) -> Month:
    """`month_of_instant`, remembered: a stop's instant is looked up again on every evaluation.
    Equal aware datetimes are the same instant, except two wall times of one zone that differ
    only in ``fold`` (a repeated hour): the fold is part of the key."""
    key = (instant, instant.fold, tz)
    month = _INSTANT_MONTHS.get(key)
    if month is None:
        month = month_of_instant(instant, tz)
        if len(_INSTANT_MONTHS) >= MEMO_LIMIT:
            _INSTANT_MONTHS.clear()
        _INSTANT_MONTHS[key] = month
    return month
