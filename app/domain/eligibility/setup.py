"""What one benefit type needs from its policy, worked out once (and remembered), and the
checks and gathering both paths of the engine start from (`prepare`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.domain.eligibility.facts import BenefitFacts, CertificationFact, RecipientFacts
from app.domain.enums import BenefitType, Channel, ResumptionMode
from app.domain.events import LifeEvents
from app.domain.findings import Findings, find, month_at, month_of
from app.domain.months import Month
from app.domain.policy import Policy
from app.domain.registry import CycleFacts
from app.domain.suspension import Terms

# The most entries a memo holds before it starts again (the caches are per process).
MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Setup:
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
            if len(self.modes) >= MEMO_LIMIT:
                self.modes.clear()
            mode = self.policy.resumption_mode(
                self.terms.benefit_type,
                months_suspended=suspended,
                months_since_certification=since,
            )
            self.modes[key] = mode
        return mode


_SetupKey = tuple[int, BenefitType, int, bool | None, bool]
# Policies are frozen; the cache holds each one, so its id() cannot be reused while cached.
_SETUPS: dict[_SetupKey, Setup] = {}


def prepare(
    benefit: BenefitFacts,
    recipient: RecipientFacts,
    certifications: Iterable[CertificationFact],
    policy: Policy,
    on: date,
    known_at: datetime | None,
    events: LifeEvents,
) -> tuple[Setup, tuple[CertificationFact, ...], Findings, CycleFacts | None]:
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


def first_walked(setup: Setup, benefit: BenefitFacts, findings: Findings, on: date) -> Month:
    """The first month anything could withhold: the benefit's start, not before enforcement
    unless a finding reaches further back, and never after ``on``'s month."""
    earliest = findings.earliest_month()
    enforcement = month_at(setup.enforcement)
    start = max(
        month_of(benefit.start_date),
        enforcement if earliest is None else min(enforcement, earliest),
    )
    return min(start, month_of(on))


def _setup(policy: Policy, benefit: BenefitFacts, recipient: RecipientFacts) -> Setup:
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
    setup = Setup(
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
        if len(_SETUPS) >= MEMO_LIMIT:
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
