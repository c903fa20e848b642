"""May this benefit be paid for this month? The certification rules as one pure function.

The payment system asks before every monthly disbursement; a wrong "withhold" stops a living
person's income and a wrong "pay" loses public money (冒领). Every date rule here is explained,
with the notice sentence behind it, in docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.domain.enums import BenefitType, Channel, EligibilityStatus, Residence, ResumptionMode
from app.domain.events import NO_EVENTS, LifeEvents
from app.domain.findings import Findings, find
from app.domain.months import Month, month_of_instant, month_range
from app.domain.policy import Policy
from app.domain.policy_rules import FirstCertificationWindow
from app.domain.reasons import Reason
from app.domain.suspension import (
    Cover,
    MonthState,
    Terms,
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
]


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
    if not policy.covers(benefit.benefit_type) or benefit.agency_code[:2] != policy.province:
        raise ValueError(
            f"policy {policy.id} does not apply to {benefit.benefit_type} of {benefit.agency_code}"
        )
    if known_at is not None and known_at.utcoffset() is None:
        raise ValueError("known_at must be timezone-aware")

    certifications = tuple(certifications)
    cycle = policy.cycle_months(
        benefit.benefit_type, recipient.emergency_contacts, benefit.funeral_subsidy_area
    )
    window = policy.window_for(benefit.benefit_type)
    terms = Terms(policy, benefit.benefit_type, benefit.approved, cycle, window)
    month = Month.of(on)
    findings = _findings(benefit, policy, events, known_at)
    start = max(Month.of(benefit.start_date), min(_first_months(window, findings)))
    states, counted, covers = _history(
        terms, certifications, findings, min(start, month), on, known_at
    )
    last = max(counted.values(), key=_recency, default=None)
    newest = covers[-1] if covers else None
    state = states[-1]

    valid_through = next_due = None
    if cycle is not None and (last is not None or benefit.approved):
        valid_through = None if newest is None else newest.last.last_day
        next_due = valid_through or window.first_certification_deadline
    stopped = state.decision.status is EligibilityStatus.STOPPED
    overpaid = _overpaid(
        terms, certifications, findings, min(start, month), on, benefit, policy, events
    )
    return Eligibility(
        policy_id=policy.id,
        status=state.decision.status,
        reason=state.decision.reason,
        payable=state.decision.payable,
        cycle_months=cycle,
        valid_through=valid_through,
        next_due=None if stopped else next_due,
        last_certification=last,
        resumption=resumption_of(terms, states, newest),
        back_pay_months=state.back_pay,
        overpaid_months=overpaid,
        moratorium_id=state.moratorium_id,
        incarcerated=findings.flagged(on),
        resumed_after_months=resumed_after(states),
        stopped_on=state.stop.on if stopped and state.stop is not None else None,
    )


def _findings(
    benefit: BenefitFacts, policy: Policy, events: LifeEvents, known_at: datetime | None
) -> Findings:
    return find(
        events, benefit.benefit_id, benefit.benefit_type, benefit.agency_code, policy.tz, known_at
    )


def _first_months(window: FirstCertificationWindow, findings: Findings) -> list[Month]:
    """Nothing is withheld before enforcement starts, except by what the findings say."""
    earliest = findings.earliest_month()
    enforcement = Month.of(window.enforcement_starts)
    return [enforcement] if earliest is None else [enforcement, earliest]


def _history(
    terms: Terms,
    certifications: tuple[CertificationFact, ...],
    findings: Findings,
    start: Month,
    until: date,
    known_at: datetime | None,
) -> tuple[list[MonthState], dict[Month, CertificationFact], list[Cover]]:
    counted = _counted(certifications, terms.policy, until, known_at, findings)
    covers = _covers(counted, terms.cycle, findings, terms.policy)
    return simulate(terms, covers, findings, start, until), counted, covers


def _overpaid(
    terms: Terms,
    certifications: tuple[CertificationFact, ...],
    findings: Findings,
    start: Month,
    on: date,
    benefit: BenefitFacts,
    policy: Policy,
    events: LifeEvents,
) -> tuple[Month, ...]:
    """Months after a stop's month that were paid, as known just before the stop was known:
    through the month it became known, and never after ``on``'s month (多领, to recover)."""
    overpaid: set[Month] = set()
    for stop in findings.every_stop:
        bound = min(Month.of(on), month_of_instant(stop.known_at, policy.tz))
        months = {m for m in month_range(stop.last_paid + 1, bound + 1) if stop.covers(m)}
        if not months:
            continue
        before = stop.known_at - timedelta(microseconds=1)
        until = on if bound == Month.of(on) else bound.last_day
        earlier = _findings(benefit, policy, events, before)
        states, _, _ = _history(terms, certifications, earlier, start, until, before)
        overpaid |= months & paid_months(states)
    return tuple(sorted(overpaid))


def _counted(
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None,
    findings: Findings,
) -> dict[Month, CertificationFact]:
    """The certifications that count, newest per month (the month is all validity depends on).

    One made after a confirmed death never counts (the ingest flags it too)."""
    died = None if findings.death is None else findings.death.on
    newest: dict[Month, CertificationFact] = {}
    for cert in certifications:
        if cert.occurred_at.utcoffset() is None:
            raise ValueError(f"certification {cert.certification_id}: occurred_at is naive")
        local_day = cert.occurred_at.astimezone(policy.tz).date()
        if not (cert.counted and policy.accepts(cert.channel) and local_day <= on):
            continue
        if died is not None and local_day > died:
            continue
        if known_at is not None and cert.recorded_at > known_at:
            continue  # not yet recorded at known_at
        if cert.revoked_at is not None and (known_at is None or cert.revoked_at <= known_at):
            continue
        month = Month.of(local_day)
        if month not in newest or _recency(cert) > _recency(newest[month]):
            newest[month] = cert
    return newest


def _covers(
    counted: dict[Month, CertificationFact], cycle: int | None, findings: Findings, policy: Policy
) -> list[Cover]:
    """Validity by certification month: 从认证当月算起，按月计算 — month m with an N-month cycle
    covers m … m+N−1. A certification made before the agency found the benefit ineligible
    (核实停发) gives no validity after the month the finding takes effect."""
    if cycle is None:
        return []
    covers = []
    for month in sorted(counted):
        last = month + (cycle - 1)
        made_on = counted[month].occurred_at.astimezone(policy.tz).date()
        for stop in findings.stops:
            if stop.resolved_on is not None and made_on <= stop.resolved_on:
                last = min(last, stop.last_paid)
        covers.append(Cover(month, last))
    return covers


def _recency(cert: CertificationFact) -> tuple[datetime, datetime, str]:
    # A total order, so the winner never depends on the order certifications are given in.
    return (cert.occurred_at, cert.recorded_at, cert.certification_id)
