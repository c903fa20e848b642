"""A benefit's months, one after another: paid, withheld, stopped, resumed and paid back.

`simulate` walks the months from the first one anything could withhold up to the day asked
about and decides each month as it stood at its last day, with every fact known at the time of
the question (``known_at``). Each month is decided in this order (docs/policy.md §7):

1. a confirmed stop: deceased > stopped (benefit-specific, agency-verified) > incarcerated;
2. a suspected loss of eligibility not yet verified: ``verification_required``;
3. the certification: validity, first-certification window, enforcement, and — after a
   suspension — the resumption tier and its step (告知承诺, 单位核实, 续发程序);
4. a moratorium lifts a suspension for lack of certification (never 1 or 2).

Withheld months that are owed (not stopped, not in prison) wait in a ledger with their causes;
a month whose causes are all gone is paid back in the month the last one went (补发).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import date

from app.domain.enums import BenefitType, EligibilityStatus, ResumptionMode
from app.domain.findings import Findings, Stop, month_at, month_of
from app.domain.months import Month
from app.domain.policy import Policy
from app.domain.policy_rules import FirstCertificationWindow
from app.domain.reasons import (
    LACK_OF_CERTIFICATION,
    PENDING_STEP_REASONS,
    Decision,
    Reason,
    decision,
    step_reason,
)

S = EligibilityStatus
_CERTIFICATION = None  # ledger cause: withheld for lack of certification (else a suspicion key)
_RESUMED: frozenset[str | None] = frozenset({_CERTIFICATION})
_NONE_GONE: frozenset[str | None] = frozenset()
_FOREVER = Month(9999, 12)
# The decisions of the certification rules, built once (`decision`).
_NOT_REQUIRED = decision(S.NOT_REQUIRED, Reason.NOT_REQUIRED, True)
_AWAITING = decision(S.AWAITING_FIRST_CERTIFICATION, Reason.NOT_CERTIFIED_YET, False)
_CERTIFIED = decision(S.ELIGIBLE, Reason.CERTIFIED, True)
_IN_WINDOW = decision(S.ELIGIBLE, Reason.FIRST_CERTIFICATION_WINDOW, True)
_NOT_STARTED = decision(S.ELIGIBLE, Reason.ENFORCEMENT_NOT_STARTED, True)
_NEVER_CERTIFIED = decision(S.SUSPENDED, Reason.NEVER_CERTIFIED, False)
_OVERDUE = decision(S.SUSPENDED, Reason.OVERDUE, False)
_VERIFICATION_REQUIRED = decision(S.SUSPENDED, Reason.VERIFICATION_REQUIRED, False)
_MORATORIUM = decision(S.ELIGIBLE, Reason.MORATORIUM, True)


@dataclass(frozen=True, slots=True)
class Terms:
    """What the months need to know about the benefit under its policy."""

    policy: Policy
    benefit_type: BenefitType
    approved: bool
    cycle: int | None
    window: FirstCertificationWindow


@dataclass(frozen=True, slots=True)
class Cover:
    """A counted certification made in ``month``, giving validity through ``last``."""

    month: Month
    last: Month


@dataclass(frozen=True, slots=True)
class Requirement:
    """The step a certification after a suspension still needs before payment resumes."""

    mode: ResumptionMode
    first_withheld: Month


@dataclass(slots=True)
class MonthState:
    month: Month
    through: Month  # the last month this state stands for (a quiet payable stretch)
    decision: Decision
    normally_payable: bool  # payable without a moratorium
    in_suspension: bool  # withheld or paid only by a moratorium (not merely unapproved)
    lacked_certification: bool  # the certification alone would have withheld it
    agency_stopped: bool
    flagged: bool  # in prison, or an imprisonment report on record
    stop: Stop | None
    suspicion_keys: tuple[str, ...]
    moratorium_id: str | None
    requirement: Requirement | None
    back_pay: tuple[Month, ...]


@dataclass(frozen=True, slots=True)
class Run:
    """The suspension ending just before (or at) a month: its months back to the last one paid
    normally."""

    first_withheld: Month | None
    lacked_certification: bool
    agency_stopped: bool
    flagged: bool


def simulate(
    terms: Terms, covers: Sequence[Cover], findings: Findings, start: Month, until: date
) -> list[MonthState]:
    """Every month from ``start`` through the month of ``until``; that last month is decided
    on ``until`` itself, the others on their last day. ``covers`` are sorted by month.

    Months are counted by `Month.index` here (``current``, ``final``, ``made``) to keep the
    arithmetic off `Month`; the states hold `Month` values as before."""
    final = month_of(until).index
    first = start.index
    states: list[MonthState] = []
    ledger = _Ledger()
    index = -1
    requirement: Requirement | None = None
    quiet = findings.quiet
    suspected = bool(findings.suspicions)
    owed = terms.approved and terms.policy.resumption.back_pay
    made = [cover.month.index for cover in covers]
    count = len(made)
    stops = findings.stops_by_month(first, final)
    current = first
    while current <= final:
        month = month_at(current)
        day = until if current == final else last_day_at(current)
        while index + 1 < count and made[index + 1] <= current:
            index += 1
            previous = covers[index - 1] if index > 0 else None
            requirement = None
            if made[index] >= first:
                requirement = _requirement(terms, states, covers[index], previous, findings, day)
        cover = covers[index] if index >= 0 else None

        month_state = _month(terms, cover, requirement, findings, stops.get(current), month, day)
        through = current
        if quiet and current < final:
            upcoming = covers[index + 1].month if index + 1 < count else None
            same = _same_through(terms, month_state, cover, upcoming, findings).index
            through = max(current, min(same, final - 1))

        # The ledger: causes go when a suspicion is verified or the benefit resumes.
        gone: Set[str | None] = _RESUMED if month_state.normally_payable else _NONE_GONE
        if suspected:
            gone = gone | findings.resolved_in(month, day)
        paid_back = ledger.settle(gone)
        if (
            not month_state.decision.payable
            and month_state.stop is None
            and month_state.in_suspension
        ):
            causes: set[str | None] = set(month_state.suspicion_keys)
            if month_state.lacked_certification:
                causes.add(_CERTIFICATION)
            ledger.hold(current, through, causes)
        if through != current:
            month_state.through = month_at(through)
        month_state.back_pay = paid_back if owed else ()
        states.append(month_state)
        current = through + 1
    return states


def paid_months(states: Sequence[MonthState]) -> set[Month]:
    """The months paid in their own month or later as back pay."""
    paid = {m for s in states for m in s.back_pay}
    for state in states:
        if state.decision.payable:
            paid.update(month_at(i) for i in range(state.month.index, state.through.index + 1))
    return paid


_LAST_DAYS: dict[int, date] = {}


def last_day_at(index: int) -> date:
    """The last day of the month with this `Month.index`, each worked out once."""
    day = _LAST_DAYS.get(index)
    if day is None:
        day = month_at(index).last_day
        _LAST_DAYS[index] = day  # bounded, as `month_at`
    return day


def run_before(states: Sequence[MonthState], end: int) -> Run:
    """The suspension made of the months just before ``states[end]``."""
    first: Month | None = None
    lacked = agency = flagged = False
    for state in reversed(states[:end]):
        if not state.in_suspension:
            break
        if not state.decision.payable:
            first = state.month
        lacked = lacked or state.lacked_certification
        agency = agency or state.agency_stopped
        flagged = flagged or state.flagged
    return Run(first, lacked, agency, flagged)


def resumption_of(
    terms: Terms, states: Sequence[MonthState], newest: Cover | None
) -> ResumptionMode | None:
    """How the benefit in the last month can come back: the missing step of a late
    certification, or the tier that a certification made now would meet."""
    last = states[-1]
    if last.decision.status is S.STOPPED:
        agency = last.stop is not None and last.stop.agency_verified
        return ResumptionMode.CONTINUATION_PROCEDURE if agency else None
    if last.decision.status is not S.SUSPENDED:
        return None
    if last.decision.reason in PENDING_STEP_REASONS and last.requirement is not None:
        return last.requirement.mode
    run = run_before(states, len(states))
    first = run.first_withheld or last.month
    # As `_requirement` counts for a certification made in the last month: the months withheld
    # before it (the last month itself is covered by that certification).
    return terms.policy.resumption_mode(
        terms.benefit_type,
        months_suspended=last.month - first,
        months_since_certification=None if newest is None else last.month - newest.month,
        agency_verified_stop=run.agency_stopped,
        suspected_incarceration=run.flagged,
    )


def resumed_after(states: Sequence[MonthState]) -> int | None:
    """Months withheld before the last month, when the benefit came back in it."""
    if not states[-1].normally_payable:
        return None
    first = run_before(states, len(states) - 1).first_withheld
    return None if first is None else states[-1].month - first


def _requirement(
    terms: Terms,
    states: Sequence[MonthState],
    cover: Cover,
    previous: Cover | None,
    findings: Findings,
    day: date,
) -> Requirement | None:
    """The tier a certification made after a suspension for lack of certification meets
    (Hunan 二(五)); None when payment resumes with it at once."""
    run = run_before(states, len(states))
    if terms.cycle is None or not run.lacked_certification or run.first_withheld is None:
        return None
    mode = terms.policy.resumption_mode(
        terms.benefit_type,
        months_suspended=cover.month - run.first_withheld,
        months_since_certification=None if previous is None else cover.month - previous.month,
        agency_verified_stop=run.agency_stopped,
        suspected_incarceration=run.flagged or findings.flagged(day),
    )
    if mode is ResumptionMode.AUTOMATIC:
        return None
    return Requirement(mode, run.first_withheld)


def _by_certification(
    terms: Terms,
    cover: Cover | None,
    requirement: Requirement | None,
    findings: Findings,
    day: date,
) -> Decision:
    """The month as the certification rules alone decide it (docs/policy.md §5–§7)."""
    if terms.cycle is None:
        # No cycle: certification is not required (Hunan unemployment).
        return _NOT_REQUIRED
    if cover is None and not terms.approved:
        return _AWAITING
    result = decide(day, None if cover is None else last_day_at(cover.last.index), terms.window)
    if result.reason is Reason.CERTIFIED and requirement is not None:
        since = requirement.first_withheld.first_day
        if not findings.step_done(requirement.mode, since, day):
            return decision(S.SUSPENDED, step_reason(requirement.mode), False)
    return result


def decide(day: date, valid_through: date | None, window: FirstCertificationWindow) -> Decision:
    """The status on ``day`` of an approved benefit (or one with a certification)."""
    if valid_through is not None and day <= valid_through:
        return _CERTIFIED
    if day < window.enforcement_starts:
        # Before enforcement nobody is withheld, certified or not (e.g. Shanxi until 2026-05-01).
        in_window = valid_through is None and day <= window.first_certification_deadline
        return _IN_WINDOW if in_window else _NOT_STARTED
    return _NEVER_CERTIFIED if valid_through is None else _OVERDUE


def _month(
    terms: Terms,
    cover: Cover | None,
    requirement: Requirement | None,
    findings: Findings,
    stop: Stop | None,
    month: Month,
    day: date,
) -> MonthState:
    """One month in the order of precedence: stops, suspicion, certification, moratorium.
    ``stop``: the one deciding ``month`` (`Findings.stop_in`)."""
    certification = _by_certification(terms, cover, requirement, findings, day)
    suspicions = findings.suspicions_on(day)
    result, moratorium_id = certification, None
    if stop is not None:
        status = S.SUSPENDED if stop.reason is Reason.INCARCERATED else S.STOPPED
        result = decision(status, stop.reason, False)
    elif suspicions:
        result = _VERIFICATION_REQUIRED
    elif not certification.payable and certification.reason in LACK_OF_CERTIFICATION:
        moratorium = findings.moratorium_on(day)
        if moratorium is not None:
            result = _MORATORIUM
            moratorium_id = moratorium.moratorium_id
    normally_payable = stop is None and not suspicions and certification.payable
    awaiting = certification.status is S.AWAITING_FIRST_CERTIFICATION
    return MonthState(
        month,  # month
        month,  # through
        result,  # decision
        normally_payable,
        not normally_payable and not awaiting,  # in_suspension
        certification.status is S.SUSPENDED,  # lacked_certification
        stop is not None and stop.agency_verified,  # agency_stopped
        findings.flagged(day) or result.reason is Reason.INCARCERATED,  # flagged
        stop,
        tuple(span.key for span in suspicions) if suspicions else (),  # suspicion_keys
        moratorium_id,
        requirement,
        (),  # back_pay
    )


def _same_through(
    terms: Terms,
    state: MonthState,
    cover: Cover | None,
    upcoming: Month | None,
    findings: Findings,
) -> Month:
    """With nothing stopped or suspected anywhere (``findings.quiet``), the last month decided
    like ``state``: payable until validity (or the grace before enforcement) runs out; overdue
    until the next certification, unless a moratorium may interrupt."""
    if state.normally_payable:
        if terms.cycle is None:
            return _FOREVER
        grace = month_at(month_of(terms.window.enforcement_starts).index - 1)
        return grace if cover is None else max(cover.last, grace)
    if state.decision.reason in (Reason.OVERDUE, Reason.NEVER_CERTIFIED) and not findings.moratoria:
        return _FOREVER if upcoming is None else month_at(upcoming.index - 1)
    return state.month


class _Ledger:
    """Withheld months still owed (by `Month.index`), each with the causes that keep it unpaid."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[int, set[str | None]] = {}

    def hold(self, first: int, last: int, causes: set[str | None]) -> None:
        for month in range(first, last + 1):
            self._waiting[month] = set(causes)

    def settle(self, gone: Set[str | None]) -> tuple[Month, ...]:
        """Drop ``gone`` causes; the months left without any are paid back now."""
        if not gone or not self._waiting:
            return ()
        for causes in self._waiting.values():
            causes.difference_update(gone)
        paid = sorted(m for m, causes in self._waiting.items() if not causes)
        for month in paid:
            del self._waiting[month]
        return tuple(month_at(month) for month in paid)
