"""May this benefit be paid for this month? The certification rules as one pure function.

The payment system asks before every monthly disbursement; a wrong "withhold" stops a living
person's income and a wrong "pay" loses public money (冒领). Every date rule here is explained,
with the notice sentence behind it, in docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from app.domain.enums import BenefitType, Channel, EligibilityStatus, Residence, ResumptionMode
from app.domain.months import Month, month_of_instant, month_range
from app.domain.policy import Policy
from app.domain.policy_rules import FirstCertificationWindow


class Reason(StrEnum):
    """Why a benefit has its status; `Eligibility.reason` holds one of these."""

    CERTIFIED = "certified"
    # No certification yet, but the first-certification deadline has not passed.
    FIRST_CERTIFICATION_WINDOW = "first_certification_window"
    # Validity ran out (or the deadline passed) before the payment system starts withholding.
    ENFORCEMENT_NOT_STARTED = "enforcement_not_started"
    OVERDUE = "overdue"
    NEVER_CERTIFIED = "never_certified"
    # An unapproved benefit waits for the certification its approval needs (待遇核定前).
    NOT_CERTIFIED_YET = "not_certified_yet"
    NOT_REQUIRED = "not_required"


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


@dataclass(frozen=True, slots=True)
class _Decision:
    status: EligibilityStatus
    reason: Reason
    payable: bool


def evaluate_eligibility(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None = None,
) -> Eligibility:
    """Decide whether ``benefit`` may be paid for the month of ``on``, as known at ``known_at``.

    Only certifications that count are used: passed at ingest (``counted``), through a channel
    the policy accepts, occurred by the end of ``on`` in the policy's time zone, recorded by
    ``known_at`` and not revoked by then (``known_at`` None: everything recorded so far). The
    newest one decides validity, so an older one arriving late never shortens it, and the order
    of ``certifications`` does not matter.

    ``policy`` must be the province's version in force on ``on`` (`PolicyBook.for_agency`) and
    must cover the benefit type; otherwise ValueError.
    """
    if not policy.covers(benefit.benefit_type) or benefit.agency_code[:2] != policy.province:
        raise ValueError(
            f"policy {policy.id} does not apply to {benefit.benefit_type} of {benefit.agency_code}"
        )
    if known_at is not None and known_at.utcoffset() is None:
        raise ValueError("known_at must be timezone-aware")

    counted = _counted(certifications, policy, on, known_at)
    last = max(counted.values(), key=_recency, default=None)
    last_month = None if last is None else month_of_instant(last.occurred_at, policy.tz)
    cycle = policy.cycle_months(
        benefit.benefit_type, recipient.emergency_contacts, benefit.funeral_subsidy_area
    )

    def result(
        decision: _Decision,
        valid_through: date | None = None,
        next_due: date | None = None,
        back_pay: tuple[Month, ...] = (),
    ) -> Eligibility:
        # Tiers (policy.resumption.tiers, Hunan 二(五)) need suspension history and flags that
        # are not facts here yet, so every suspension resumes automatically for now.
        suspended = decision.status is EligibilityStatus.SUSPENDED
        resumption = ResumptionMode.AUTOMATIC if suspended else None
        return Eligibility(
            policy_id=policy.id,
            status=decision.status,
            reason=decision.reason,
            payable=decision.payable,
            cycle_months=cycle,
            valid_through=valid_through,
            next_due=next_due,
            last_certification=last,
            resumption=resumption,
            back_pay_months=back_pay,
            overpaid_months=(),
        )

    if cycle is None:
        # No cycle: certification is not required (Hunan unemployment). A suspicion flag will
        # make it required here once suspected-loss facts exist.
        return result(_Decision(EligibilityStatus.NOT_REQUIRED, Reason.NOT_REQUIRED, True))
    if last_month is None and not benefit.approved:
        return result(
            _Decision(
                EligibilityStatus.AWAITING_FIRST_CERTIFICATION, Reason.NOT_CERTIFIED_YET, False
            )
        )

    window = policy.window_for(benefit.benefit_type)
    valid_through = None if last_month is None else _valid_through(last_month, cycle)
    decision = _decide(on, valid_through, window)
    back_pay: tuple[Month, ...] = ()
    if last_month == Month.of(on) and benefit.approved and policy.resumption.back_pay:
        earlier = [month for month in counted if month < last_month]
        back_pay = _withheld_months(
            since=max(Month.of(benefit.start_date), Month.of(window.enforcement_starts)),
            until=last_month,
            valid_through=_valid_through(max(earlier), cycle) if earlier else None,
            window=window,
        )
    next_due = valid_through if valid_through is not None else window.first_certification_deadline
    return result(decision, valid_through, next_due, back_pay)


def _counted(
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None,
) -> dict[Month, CertificationFact]:
    """The certifications that count, newest per month (the month is all validity depends on)."""
    newest: dict[Month, CertificationFact] = {}
    for cert in certifications:
        if cert.occurred_at.utcoffset() is None:
            raise ValueError(f"certification {cert.certification_id}: occurred_at is naive")
        local_day = cert.occurred_at.astimezone(policy.tz).date()
        if not (cert.counted and policy.accepts(cert.channel) and local_day <= on):
            continue
        if known_at is not None and cert.recorded_at > known_at:
            continue  # not yet recorded at known_at
        if cert.revoked_at is not None and (known_at is None or cert.revoked_at <= known_at):
            continue
        month = Month.of(local_day)
        if month not in newest or _recency(cert) > _recency(newest[month]):
            newest[month] = cert
    return newest


def _recency(cert: CertificationFact) -> tuple[datetime, datetime, str]:
    # A total order, so the winner never depends on the order certifications are given in.
    return (cert.occurred_at, cert.recorded_at, cert.certification_id)


def _valid_through(month: Month, cycle: int) -> date:
    """从认证当月算起，按月计算: month m with an N-month cycle covers m … m+N−1."""
    return (month + (cycle - 1)).last_day


def _decide(day: date, valid_through: date | None, window: FirstCertificationWindow) -> _Decision:
    """The status on ``day`` of an approved benefit (or one with a certification)."""
    if valid_through is not None and day <= valid_through:
        return _Decision(EligibilityStatus.ELIGIBLE, Reason.CERTIFIED, True)
    if day < window.enforcement_starts:
        # Before enforcement nobody is withheld, certified or not (e.g. Shanxi until 2026-05-01).
        in_window = valid_through is None and day <= window.first_certification_deadline
        reason = Reason.FIRST_CERTIFICATION_WINDOW if in_window else Reason.ENFORCEMENT_NOT_STARTED
        return _Decision(EligibilityStatus.ELIGIBLE, reason, True)
    reason = Reason.NEVER_CERTIFIED if valid_through is None else Reason.OVERDUE
    return _Decision(EligibilityStatus.SUSPENDED, reason, False)


def _withheld_months(
    since: Month, until: Month, valid_through: date | None, window: FirstCertificationWindow
) -> tuple[Month, ...]:
    """Months in [since, until) the benefit was withheld, judged by the earlier validity.

    These are the back-pay months (补发) of a resumption in ``until``. They are listed only while
    ``on`` is in the resumption month, so a payment run pays them once.
    """
    return tuple(
        month
        for month in month_range(since, until)
        if not _decide(month.last_day, valid_through, window).payable
    )
