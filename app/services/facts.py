"""Loading what the engine needs, for one recipient or ten thousand, in a fixed number of
queries: every answer path (single, batch check, payment run) goes through here, so they
cannot see different facts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Benefit,
    Certification,
    Moratorium,
    Recipient,
    ResumptionStep,
    StopReport,
    VerificationCase,
)
from app.domain.eligibility import BenefitFacts, CertificationFact, RecipientFacts
from app.domain.enums import BenefitType
from app.domain.events import (
    CaseFact,
    LifeEvents,
    MoratoriumFact,
    ResumptionStepFact,
    StopEventFact,
)

# Bound parameters per IN list: well under PostgreSQL's and SQLite's limits.
IN_CHUNK = 5000


@dataclass
class Facts:
    """One recipient's certifications that could count, and the events beyond them."""

    certifications: list[CertificationFact] = field(default_factory=list)
    stops: list[StopEventFact] = field(default_factory=list)
    cases: list[CaseFact] = field(default_factory=list)
    steps: list[ResumptionStepFact] = field(default_factory=list)

    def events(self, moratoria: Sequence[MoratoriumFact]) -> LifeEvents:
        return LifeEvents(
            stops=tuple(self.stops),
            cases=tuple(self.cases),
            steps=tuple(self.steps),
            moratoria=tuple(moratoria),
        )


@dataclass
class FactBook:
    by_recipient: dict[uuid.UUID, Facts]
    moratoria: list[MoratoriumFact]

    def certifications(self, recipient_id: uuid.UUID) -> list[CertificationFact]:
        return self.by_recipient[recipient_id].certifications

    def events(self, recipient_id: uuid.UUID) -> LifeEvents:
        return self.by_recipient[recipient_id].events(self.moratoria)

    def newest_record(self, recipient_id: uuid.UUID, known_at: datetime) -> datetime | None:
        """The latest recording instant among the facts a decision as of known_at saw."""
        facts = self.by_recipient[recipient_id]
        instants = [
            *(c.recorded_at for c in facts.certifications),
            *(c.revoked_at for c in facts.certifications if c.revoked_at is not None),
            *(s.recorded_at for s in facts.stops),
            *(c.opened_at for c in facts.cases),
            *(c.resolved_at for c in facts.cases if c.resolved_at is not None),
            *(s.recorded_at for s in facts.steps),
        ]
        return max((i for i in instants if i <= known_at), default=None)


async def load_facts(session: AsyncSession, recipient_ids: Collection[uuid.UUID]) -> FactBook:
    """Five queries per chunk of recipients (certifications, stops, cases, steps) plus one for
    the moratoria, however many recipients are asked about."""
    facts: dict[uuid.UUID, Facts] = defaultdict(Facts)
    for chunk in _chunks(list(recipient_ids)):
        # Columns, not entities: the evidence JSON is not needed to decide, and building ORM
        # objects for it was half the cost of a payment run.
        for row in await session.execute(
            select(
                Certification.recipient_id,
                Certification.id,
                Certification.channel,
                Certification.occurred_at,
                Certification.recorded_at,
                Certification.counted,
                Certification.revoked_at,
            ).where(Certification.recipient_id.in_(chunk), Certification.counted.is_(True))
        ):
            facts[row.recipient_id].certifications.append(
                CertificationFact(
                    certification_id=str(row.id),
                    channel=row.channel,
                    occurred_at=row.occurred_at,
                    recorded_at=row.recorded_at,
                    counted=row.counted,
                    revoked_at=row.revoked_at,
                )
            )
        for stop in await session.scalars(
            select(StopReport).where(StopReport.recipient_id.in_(chunk))
        ):
            facts[stop.recipient_id].stops.append(stop_fact(stop))
        for case in await session.scalars(
            select(VerificationCase).where(VerificationCase.recipient_id.in_(chunk))
        ):
            facts[case.recipient_id].cases.append(case_fact(case))
        for step in await session.scalars(
            select(ResumptionStep).where(ResumptionStep.recipient_id.in_(chunk))
        ):
            facts[step.recipient_id].steps.append(
                ResumptionStepFact(
                    kind=step.kind, on=step.completed_on, recorded_at=step.recorded_at
                )
            )
    # Moratoria are few (an admin sets them): the engine matches prefixes and types.
    moratoria = [moratorium_fact(row) for row in await session.scalars(select(Moratorium))]
    return FactBook({rid: facts[rid] for rid in recipient_ids}, moratoria)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def benefit_facts(benefit: Benefit) -> BenefitFacts:
    return BenefitFacts(
        benefit_id=str(benefit.id),
        benefit_type=benefit.benefit_type,
        agency_code=benefit.agency_code,
        start_date=benefit.start_date,
        approved=benefit.approved,
        funeral_subsidy_area=benefit.funeral_subsidy_area,
    )


def recipient_facts(recipient: Recipient) -> RecipientFacts:
    return RecipientFacts(
        residence=recipient.residence, emergency_contacts=recipient.emergency_contacts
    )


def stop_fact(row: StopReport) -> StopEventFact:
    return StopEventFact(
        event_id=str(row.id),
        reason=row.reason,
        benefit_id=None if row.benefit_id is None else str(row.benefit_id),
        occurred_on=row.occurred_on,
        recorded_at=row.recorded_at,
        suspected=row.suspected,
        has_documents=bool(row.documents),
    )


def case_fact(row: VerificationCase) -> CaseFact:
    return CaseFact(
        case_id=str(row.id),
        benefit_id=None if row.benefit_id is None else str(row.benefit_id),
        stop_event_id=None if row.stop_report_id is None else str(row.stop_report_id),
        opened_at=row.opened_at,
        outcome=row.outcome,
        effective_on=row.effective_on,
        resolved_at=row.resolved_at,
    )


def moratorium_fact(row: Moratorium) -> MoratoriumFact:
    return MoratoriumFact(
        moratorium_id=str(row.id),
        agency_prefix=row.agency_code,
        benefit_types=frozenset(BenefitType(value) for value in row.benefit_types),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        created_at=row.created_at,
    )
