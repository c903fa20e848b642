"""May this benefit be paid for this month? The certification rules as one pure function.

The payment system asks before every monthly disbursement; a wrong "withhold" stops a living
person's income and a wrong "pay" loses public money (冒领). Every date rule here is explained,
with the notice sentence behind it, in docs/policy.md.

A payment run asks millions of times, and almost every benefit has nothing but certifications:
no stop, no suspicion, no step or moratorium that could matter. For those the months need not
be walked one by one: `_fast` reads the answer straight off the certifications' validity and
gives up (None) on anything else, which `_full` then walks month by month (`simulate`). Both
must give equal answers; tests/domain/test_fast_path.py checks that they do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.enums import BenefitType, Channel, EligibilityStatus, Residence, ResumptionMode
from app.domain.events import NO_EVENTS, LifeEvents, MoratoriumFact
from app.domain.findings import Findings, find, month_at, month_of
from app.domain.months import Month, month_of_instant, month_range
from app.domain.policy import Policy
from app.domain.reasons import Reason
from app.domain.registry import CycleFacts
from app.domain.suspension import (
    Cover,
    MonthState,
    Terms,
    decide,
    last_day_at,
    paid_months,
    resumed_after,
    resumption_of,
    simulate,
)

__all__ = [
    "BenefitFacts",
    "CertificationFact",
    "Eligibility",
    "Reason",
    "RecipientFacts",
    "evaluate_eligibility",
    "months_paid",
]

S = EligibilityStatus


@dataclass(frozen=True, slots=True)
class BenefitFacts:
    benefit_id: str
    benefit_type: BenefitType
    agency_code: str
    start_date: date
    approved: bool
    funeral_subsidy_area: bool | None


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    residence: Residence
    emergency_contacts: int


@dataclass(frozen=True, slots=True)
class CertificationFact:
    certification_id: str
    channel: Channel
    occurred_at: datetime  # aware
    recorded_at: datetime  # aware: when the service stored it
    counted: bool  # passed and met the policy's thresholds at ingest
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Eligibility:
    policy_id: str
    status: EligibilityStatus
    reason: str
    payable: bool
    cycle_months: int | None
    valid_through: date | None
    next_due: date | None
    last_certification: CertificationFact | None
    resumption: ResumptionMode | None
    back_pay_months: tuple[Month, ...]
    overpaid_months: tuple[Month, ...]
    # The moratorium keeping an overdue benefit payable (reason ``moratorium``).
    moratorium_id: str | None = None
    # An imprisonment report, suspected or confirmed, is on record and no documented release
    # (or verification) has cleared it: no self-service certification.
    incarcerated: bool = False
    # In the month the benefit came back from a suspension: the months it had been withheld.
    resumed_after_months: int | None = None
    # While stopped: the day of the condition (death, re-employment, effective date of the
    # agency's finding); the benefit was owed through the end of that month.
    stopped_on: date | None = None


def evaluate_eligibility(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
    *,
    events: LifeEvents = NO_EVENTS,
) -> Eligibility:
    """Decide whether ``benefit`` may be paid for the month of ``on``, as known at ``known_at``.

    Only certifications that count are used: passed at ingest (``counted``), through a channel
    the policy accepts, occurred by the end of ``on`` in the policy's time zone (and not after a
    confirmed death), recorded by ``known_at`` and not revoked by then (``known_at`` None:
    everything recorded so far). The newest one decides validity, so an older one arriving late
    never shortens it, and the order of ``certifications`` does not matter.

    ``events`` are the recipient's stop reports, verification cases, resumption steps and the
    moratoria; they too count only once recorded by ``known_at``. The months are walked from the
    first one anything could withhold (`app.domain.suspension`), so suspensions, resumption
    tiers, back pay and overpayments follow from the facts alone.

    ``policy`` must be the province's version in force on ``on`` (`PolicyBook.for_agency`) and
    must cover the benefit type; otherwise ValueError.
    """
    setup, certs, findings, history = _prepare(
        benefit, recipient, certifications, policy, on, known_at, events
    )
    counted = _counted(certs, setup, on, known_at, findings)
    ends = _ends(setup, counted, history, known_at)
    answer = _fast(setup, benefit, counted, ends, findings, on)
    if answer is None:
        answer = _full(
            setup, benefit, certs, counted, ends, history, findings, on, known_at, events
        )
    return answer


def _evaluate_full(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
    *,
    events: LifeEvents = NO_EVENTS,
) -> Eligibility:
    """`evaluate_eligibility` without the shortcut: every month walked (the reference)."""
    setup, certs, findings, history = _prepare(
        benefit, recipient, certifications, policy, on, known_at, events
    )
    counted = _counted(certs, setup, on, known_at, findings)
    ends = _ends(setup, counted, history, known_at)
    return _full(setup, benefit, certs, counted, ends, history, findings, on, known_at, events)


# --- what one benefit type needs from its policy, worked out once ---------------------------


@dataclass(frozen=True, slots=True)
class _Setup:
    policy: Policy
    tz: ZoneInfo
    channels: frozenset[Channel]
    terms: Terms
    enforcement: int  # Month.index of the window's enforcement_starts
    deadline: date  # the window's first_certification_deadline
    # Every resumption tier this benefit type can meet is automatic: no step is ever missing.
    always_automatic: bool
    owed: bool  # withheld months are paid back (approved, and the policy pays back)
    # Memo of the tier met after a plain lapse: (months suspended, months since) -> mode.
    modes: dict[tuple[int, int | None], ResumptionMode]

    def lapse_mode(self, suspended: int, since: int | None) -> ResumptionMode:
        """The tier for a suspension with no stop, agency finding or imprisonment report."""
        key = (suspended, since)
        mode = self.modes.get(key)
        if mode is None:
            if len(self.modes) >= _MEMO_LIMIT:
                self.modes.clear()
            mode = self.policy.resumption_mode(
                self.terms.benefit_type,
                months_suspended=suspended,
                months_since_certification=since,
            )
            self.modes[key] = mode
        return mode


_MEMO_LIMIT = 4096
_SetupKey = tuple[int, BenefitType, int, bool | None, bool]
# Policies are frozen; the cache holds each one, so its id() cannot be reused while cached.
_SETUPS: dict[_SetupKey, _Setup] = {}


def _prepare(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None,
    events: LifeEvents,
) -> tuple[_Setup, tuple[CertificationFact, ...], Findings, CycleFacts | None]:
    """Check the arguments and gather what both paths need, refusing bad input in one order.

    With a registry history (`app.domain.registry`), the setup is made from the values in
    force on ``on`` as known at ``known_at``: the cycle a certification made that day gets."""
    if not policy.covers(benefit.benefit_type) or benefit.agency_code[:2] != policy.province:
        raise ValueError(
            f"policy {policy.id} does not apply to {benefit.benefit_type} of {benefit.agency_code}"
        )
    if known_at is not None and known_at.utcoffset() is None:
        raise ValueError("known_at must be timezone-aware")
    certs = tuple(certifications)
    history = None
    if events.registry:
        history = CycleFacts.of(
            events.registry,
            benefit.benefit_id,
            recipient.emergency_contacts,
            benefit.funeral_subsidy_area,
        )
    if history is None:
        setup = _setup(policy, benefit, recipient)
    else:
        contacts, funeral = history.values_on(on, policy.tz, known_at)
        setup = _setup(
            policy,
            replace(benefit, funeral_subsidy_area=funeral),
            replace(recipient, emergency_contacts=contacts),
        )
    findings = find(
        events, benefit.benefit_id, benefit.benefit_type, benefit.agency_code, setup.tz, known_at
    )
    return setup, certs, findings, history


def _setup(policy: Policy, benefit: BenefitFacts, recipient: RecipientFacts) -> _Setup:
    funeral = benefit.funeral_subsidy_area
    # Cycle rules match the funeral-subsidy flag by identity, so 1 must not find True's entry.
    cached = funeral is None or funeral is True or funeral is False
    key = (
        id(policy),
        benefit.benefit_type,
        recipient.emergency_contacts,
        funeral,
        benefit.approved,
    )
    setup = _SETUPS.get(key) if cached else None
    if setup is not None and setup.policy is policy:
        return setup
    cycle = policy.cycle_months(
        benefit.benefit_type, recipient.emergency_contacts, benefit.funeral_subsidy_area
    )
    window = policy.window_for(benefit.benefit_type)
    setup = _Setup(
        policy=policy,
        tz=policy.tz,
        channels=policy.accepted_channels,
        terms=Terms(policy, benefit.benefit_type, benefit.approved, cycle, window),
        enforcement=Month.of(window.enforcement_starts).index,
        deadline=window.first_certification_deadline,
        always_automatic=_always_automatic(policy, benefit.benefit_type),
        owed=benefit.approved and policy.resumption.back_pay,
        modes={},
    )
    if cached:
        if len(_SETUPS) >= _MEMO_LIMIT:
            _SETUPS.clear()
        _SETUPS[key] = setup
    return setup


def _always_automatic(policy: Policy, benefit_type: BenefitType) -> bool:
    """Whether `Policy.resumption_mode` answers ``automatic`` for this type whatever it is asked:
    every tier that can apply to it is automatic (the most demanding match wins)."""
    return all(
        tier.mode is ResumptionMode.AUTOMATIC
        for tier in policy.resumption.tiers
        if tier.benefit_types is None or benefit_type in tier.benefit_types
    )


# --- the shortcut -----------------------------------------------------------------------------


def _fast(
    setup: _Setup,
    benefit: BenefitFacts,
    counted: dict[int, CertificationFact],
    ends: _Ends | None,
    findings: Findings,
    on: date,
) -> Eligibility | None:
    """The answer without walking the months, when only certifications decide; None otherwise.

    With nothing stopped, suspected or flagged, every month from the first one walked is one of:
    covered by a certification (paid), before enforcement (paid), waiting for the first
    certification of an unapproved benefit, or a lapse (withheld for lack of certification;
    its run starts after the last covered month). A certification after a lapse meets a tier;
    it must be automatic here (else a step may be missing: None). A moratorium matters only
    on a lapse's days, so one overlapping a lapse that decides anything sends it to `_full`.
    """
    if not findings.quiet or findings.imprisonment_flags:
        return None
    policy_id = setup.policy.id
    last = _newest(counted)
    terms = setup.terms
    cycle = terms.cycle
    if cycle is None:  # certification not required: nothing withholds it
        return Eligibility(
            policy_id, S.NOT_REQUIRED, Reason.NOT_REQUIRED, True, None, None, None, last, None,
            (), (), None, False, None, None,
        )  # fmt: skip
    approved = terms.approved
    if not counted and not approved:
        return Eligibility(
            policy_id, S.AWAITING_FIRST_CERTIFICATION, Reason.NOT_CERTIFIED_YET, False, cycle,
            None, None, None, None, (), (), None, False, None, None,
        )  # fmt: skip

    month = on.year * 12 + on.month - 1
    started = benefit.start_date
    # The first month walked (`_full`): never before enforcement, nor after ``on``'s month.
    first = min(max(started.year * 12 + started.month - 1, setup.enforcement), month)
    made = sorted(counted)  # every one by ``on``'s month
    moratoria = findings.moratoria

    if not setup.always_automatic:
        previous: int | None = None
        for made_in in made:
            if made_in > first:
                lapse = _lapse_from(first, previous, cycle, ends, made_in, approved)
                if lapse is not None:
                    if moratoria and _overlaps(moratoria, lapse, last_day_at(made_in - 1)):
                        return None
                    since = None if previous is None else made_in - previous
                    if setup.lapse_mode(made_in - lapse, since) is not ResumptionMode.AUTOMATIC:
                        return None
            previous = made_in

    newest = made[-1] if made else None
    ended = _ended(newest, cycle, ends)
    valid_through = None if ended is None else last_day_at(ended)
    decision = decide(on, valid_through, terms.window)
    next_due = valid_through or setup.deadline
    reported = cycle if ends is None else ends.newest_cycle  # the newest one's own cycle
    if decision.payable:
        back_pay: tuple[Month, ...] = ()
        resumed = None
        if newest == month and month > first:  # certified this month: after a lapse?
            previous = made[-2] if len(made) > 1 else None
            lapse = _lapse_from(first, previous, cycle, ends, month, approved)
            if lapse is not None:
                if moratoria and _overlaps(moratoria, lapse, last_day_at(month - 1)):
                    return None
                resumed = month - lapse
                if setup.owed:
                    back_pay = tuple(month_at(index) for index in range(lapse, month))
        return Eligibility(
            policy_id, decision.status, decision.reason, True, reported, valid_through, next_due,
            last, None, back_pay, (), None, False, resumed, None,
        )  # fmt: skip

    # Withheld for lack of certification since the month after validity ran out.
    lapse = first if ended is None else max(first, ended + 1)
    if moratoria and _overlaps(moratoria, lapse, on):
        return None
    # The tier a certification made now would meet: the months withheld before this one.
    mode = setup.lapse_mode(month - lapse, None if newest is None else month - newest)
    return Eligibility(
        policy_id, S.SUSPENDED, decision.reason, False, reported, valid_through, next_due, last,
        mode, (), (), None, False, None, None,
    )  # fmt: skip


def _lapse_from(
    first: int,
    previous: int | None,
    cycle: int,
    ends: _Ends | None,
    made_in: int,
    approved: bool,
) -> int | None:
    """The first month of the lapse just before a certification made in ``made_in`` (> first),
    None when the month before it was covered or awaited the first certification."""
    ended = _ended(previous, cycle, ends)
    if ended is None:
        return first if approved else None
    expired = ended + 1  # the first month after the previous one's validity
    return max(first, expired) if expired < made_in else None


def _ended(made_in: int | None, cycle: int, ends: _Ends | None) -> int | None:
    """The last month covered by the certifications up to the one made in ``made_in``."""
    if made_in is None:
        return None
    return made_in + cycle - 1 if ends is None else ends[made_in]


def _ends(
    setup: _Setup,
    counted: dict[int, CertificationFact],
    history: CycleFacts | None,
    known_at: datetime | None,
) -> _Ends | None:
    """With a registry history: by certification month, the last month covered up to it.

    Each certification gets the cycle of the values in force when it was made (as known at
    ``known_at``), from its own month; a later one with a shorter cycle never ends validity
    that an earlier one gave (no decided month is taken back). None without a history (or
    without a cycle): every certification has the setup's cycle, so the newest decides."""
    cycle = setup.terms.cycle
    if history is None or cycle is None or not counted:
        return None
    policy = setup.policy
    benefit_type = setup.terms.benefit_type
    ends = _Ends()
    reach = -1
    for month in sorted(counted):
        own = history.cycle_at(policy, benefit_type, counted[month].occurred_at, known_at)
        ends.newest_cycle = ends.cycles[month] = cycle if own is None else own
        reach = max(reach, month + ends.newest_cycle - 1)
        ends[month] = reach
    return ends


class _Ends(dict[int, int]):
    """By certification month, the last month covered up to it; each one's own cycle; and the
    newest one's (what ``cycle_months`` reports)."""

    def __init__(self) -> None:
        super().__init__()
        self.cycles: dict[int, int] = {}
        self.newest_cycle = 0


def _overlaps(moratoria: tuple[MoratoriumFact, ...], first: int, until: date) -> bool:
    since = month_at(first).first_day
    return any(m.starts_on <= until and m.ends_on >= since for m in moratoria)


# --- the walk ---------------------------------------------------------------------------------


def _full(
    setup: _Setup,
    benefit: BenefitFacts,
    certifications: tuple[CertificationFact, ...],
    counted: dict[int, CertificationFact],
    ends: _Ends | None,
    history: CycleFacts | None,
    findings: Findings,
    on: date,
    known_at: datetime | None,
    events: LifeEvents,
) -> Eligibility:
    terms = setup.terms
    cycle = terms.cycle
    window = terms.window
    begin = _first_walked(setup, benefit, findings, on)
    covers = _covers(counted, cycle, ends, findings, setup.tz)
    if ends is not None:
        cycle = ends.newest_cycle
    states = simulate(terms, covers, findings, begin, on)
    last = _newest(counted)
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


def _first_walked(setup: _Setup, benefit: BenefitFacts, findings: Findings, on: date) -> Month:
    """The first month anything could withhold: the benefit's start, not before enforcement
    unless a finding reaches further back, and never after ``on``'s month."""
    earliest = findings.earliest_month()
    enforcement = month_at(setup.enforcement)
    start = max(
        month_of(benefit.start_date),
        enforcement if earliest is None else min(enforcement, earliest),
    )
    return min(start, month_of(on))


def months_paid(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
    *,
    events: LifeEvents = NO_EVENTS,
) -> frozenset[Month]:
    """The months through ``on``'s that are paid, in their own month or later as back pay, as
    known at ``known_at``: with hindsight, each past month judged at its last day. A payment
    run compares this with what the stored runs did (docs/policy.md §7.5). Nothing for a
    benefit whose withheld months are not paid back (unapproved, or ``back_pay = false``)."""
    setup, certs, findings, history = _prepare(
        benefit, recipient, certifications, policy, on, known_at, events
    )
    if not setup.owed:
        return frozenset()
    begin = _first_walked(setup, benefit, findings, on)
    return frozenset(paid_months(_history(setup, certs, history, findings, begin, on, known_at)))


def _history(
    setup: _Setup,
    certifications: tuple[CertificationFact, ...],
    history: CycleFacts | None,
    findings: Findings,
    start: Month,
    until: date,
    known_at: datetime | None,
) -> list[MonthState]:
    counted = _counted(certifications, setup, until, known_at, findings)
    ends = _ends(setup, counted, history, known_at)
    covers = _covers(counted, setup.terms.cycle, ends, findings, setup.tz)
    return simulate(setup.terms, covers, findings, start, until)


def _overpaid(
    setup: _Setup,
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
        states = _history(setup, certifications, history, earlier, start, until, before)
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
        if len(_INSTANT_MONTHS) >= _MEMO_LIMIT:
            _INSTANT_MONTHS.clear()
        _INSTANT_MONTHS[key] = month
    return month


def _counted(
    certifications: tuple[CertificationFact, ...],
    setup: _Setup,
    on: date,
    known_at: datetime | None,
    findings: Findings,
) -> dict[int, CertificationFact]:
    """The certifications that count, newest per month (the month is all validity depends on),
    by `Month.index`.

    One made after a confirmed death never counts (the ingest flags it too)."""
    died = None if findings.death is None else findings.death.on
    tz = setup.tz
    channels = setup.channels
    newest: dict[int, CertificationFact] = {}
    for cert in certifications:
        occurred = cert.occurred_at
        if occurred.utcoffset() is None:
            raise ValueError(f"certification {cert.certification_id}: occurred_at is naive")
        if not (cert.counted and cert.channel in channels):
            continue
        local_day = occurred.astimezone(tz).date()
        if local_day > on:
            continue
        if died is not None and local_day > died:
            continue
        if known_at is not None and cert.recorded_at > known_at:
            continue  # not yet recorded at known_at
        if cert.revoked_at is not None and (known_at is None or cert.revoked_at <= known_at):
            continue
        month = local_day.year * 12 + local_day.month - 1
        held = newest.get(month)
        if held is None or _recency(cert) > _recency(held):
            newest[month] = cert
    return newest


def _covers(
    counted: dict[int, CertificationFact],
    cycle: int | None,
    ends: _Ends | None,
    findings: Findings,
    tz: ZoneInfo,
) -> list[Cover]:
    """Validity by certification month: 从认证当月算起，按月计算 — month m with an N-month cycle
    covers m … m+N−1. A certification made before the agency found the benefit ineligible
    (核实停发) gives no validity after the month the finding takes effect. With a registry
    history (``ends``) each has its own N, and a newer one never covers less than the one
    before it did (`_ends`)."""
    if cycle is None:
        return []
    covers: list[Cover] = []
    stops = findings.stops
    for month in sorted(counted):
        last = month_at(month + (cycle if ends is None else ends.cycles[month]) - 1)
        if stops:
            made_on = counted[month].occurred_at.astimezone(tz).date()
            for stop in stops:
                if stop.resolved_on is not None and made_on <= stop.resolved_on:
                    last = min(last, stop.last_paid)
        if ends is not None and covers and covers[-1].last > last:
            last = covers[-1].last
        covers.append(Cover(month_at(month), last))
    return covers


def _newest(counted: dict[int, CertificationFact]) -> CertificationFact | None:
    """``max(counted.values(), key=_recency, default=None)``, comparing the whole key only when
    the times of occurrence are equal (the first of equal ones wins, as with `max`)."""
    newest = None
    for cert in counted.values():
        if newest is None:
            newest = cert
            continue
        occurred, best = cert.occurred_at, newest.occurred_at
        if occurred > best or (occurred == best and _recency(cert) > _recency(newest)):
            newest = cert
    return newest


def _recency(cert: CertificationFact) -> tuple[datetime, datetime, str]:
    # A total order, so the winner never depends on the order certifications are given in.
    return (cert.occurred_at, cert.recorded_at, cert.certification_id)
