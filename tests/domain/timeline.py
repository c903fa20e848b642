"""Builders for life-event scenarios: benefits, certifications, reports, cases, steps."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

from app.domain.eligibility import (
    BenefitFacts,
    CertificationFact,
    Eligibility,
    RecipientFacts,
    evaluate_eligibility,
)
from app.domain.enums import BenefitType, Channel, Residence, ResumptionMode
from app.domain.events import (
    CaseFact,
    CaseOutcome,
    LifeEvents,
    MoratoriumFact,
    ResumptionStepFact,
    StopEventFact,
    StopReason,
)
from app.domain.months import Month
from app.domain.policy import Policy, load_policies

BEIJING = timezone(timedelta(hours=8))
BOOK = load_policies()
SHANXI = BOOK.get("shanxi-2026")
HUNAN = BOOK.get("hunan-2026")
AGENCY = {"14": "140402", "43": "430102"}
_ids = itertools.count(1)


def at(day: str | date, hour: int = 12) -> datetime:
    """Noon (or ``hour``) Beijing time on ``day``."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING)


def month(text: str) -> Month:
    return Month.parse(text)


def months(first: str, last: str) -> tuple[Month, ...]:
    """``first`` … ``last`` inclusive."""
    start, end = Month.parse(first), Month.parse(last)
    return tuple(Month.from_index(i) for i in range(start.index, end.index + 1))


def benefit(
    benefit_type: BenefitType,
    policy: Policy,
    *,
    benefit_id: str = "b1",
    start: date = date(2015, 1, 1),
    approved: bool = True,
    funeral_subsidy_area: bool | None = True,
) -> BenefitFacts:
    return BenefitFacts(
        benefit_id=benefit_id,
        benefit_type=benefit_type,
        agency_code=AGENCY[policy.province],
        start_date=start,
        approved=approved,
        funeral_subsidy_area=funeral_subsidy_area,
    )


def cert(day: str, *, recorded: datetime | None = None) -> CertificationFact:
    """A counted face certification at 10:00 Beijing time on ``day``."""
    occurred = at(day, hour=10)
    return CertificationFact(
        certification_id=f"c{next(_ids)}",
        channel=Channel.FACE,
        occurred_at=occurred,
        recorded_at=recorded or occurred + timedelta(minutes=1),
        counted=True,
    )


def report(
    reason: StopReason,
    occurred: str,
    recorded: str,
    *,
    suspected: bool = False,
    benefit_id: str | None = None,
    documents: bool = False,
    event_id: str | None = None,
) -> StopEventFact:
    return StopEventFact(
        event_id=event_id or f"e{next(_ids)}",
        reason=reason,
        benefit_id=benefit_id,
        occurred_on=date.fromisoformat(occurred),
        recorded_at=at(recorded),
        suspected=suspected,
        has_documents=documents,
    )


def case(
    *,
    on: StopEventFact | None = None,
    opened: str,
    outcome: CaseOutcome | None = None,
    resolved: str | None = None,
    effective: str | None = None,
    benefit_id: str | None = None,
) -> CaseFact:
    return CaseFact(
        case_id=f"k{next(_ids)}",
        benefit_id=benefit_id,
        stop_event_id=None if on is None else on.event_id,
        opened_at=at(opened),
        outcome=outcome,
        effective_on=None if effective is None else date.fromisoformat(effective),
        resolved_at=None if resolved is None else at(resolved, hour=15),
    )


def step(kind: ResumptionMode, day: str, recorded: str | None = None) -> ResumptionStepFact:
    return ResumptionStepFact(
        kind=kind, on=date.fromisoformat(day), recorded_at=at(recorded or day)
    )


def moratorium(
    prefix: str,
    types: set[BenefitType],
    starts: str,
    ends: str,
    *,
    created: str | None = None,
    moratorium_id: str = "m1",
) -> MoratoriumFact:
    return MoratoriumFact(
        moratorium_id=moratorium_id,
        agency_prefix=prefix,
        benefit_types=frozenset(types),
        starts_on=date.fromisoformat(starts),
        ends_on=date.fromisoformat(ends),
        created_at=at(created or "2026-01-01"),
    )


def events(
    *facts: StopEventFact | CaseFact | ResumptionStepFact | MoratoriumFact,
) -> LifeEvents:
    return LifeEvents(
        stops=tuple(f for f in facts if isinstance(f, StopEventFact)),
        cases=tuple(f for f in facts if isinstance(f, CaseFact)),
        steps=tuple(f for f in facts if isinstance(f, ResumptionStepFact)),
        moratoria=tuple(f for f in facts if isinstance(f, MoratoriumFact)),
    )


def evaluate(
    facts: BenefitFacts,
    on: str | date,
    certs: tuple[CertificationFact, ...] | list[CertificationFact] = (),
    life: LifeEvents | None = None,
    *,
    policy: Policy | None = None,
    contacts: int = 2,
    known_at: datetime | None = None,
) -> Eligibility:
    day = date.fromisoformat(on) if isinstance(on, str) else on
    chosen = policy or (SHANXI if facts.agency_code.startswith("14") else HUNAN)
    return evaluate_eligibility(
        facts,
        RecipientFacts(Residence.IN_PROVINCE, contacts),
        certs,
        chosen,
        day,
        known_at,
        events=life or LifeEvents(),
    )
