"""What the facts are, however they were read: one recipient's `Facts`, the `FactBook` of many,
the shapes of the recipient and benefit rows the answer paths read, and the conversions of
recipients, benefits and registry values to the engine's facts (`app.domain.eligibility`,
`app.domain.events`); those of events are in `app.db.facts.convert`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Protocol

from app.db.models import Benefit
from app.domain.eligibility import BenefitFacts, CertificationFact, RecipientFacts
from app.domain.enums import BenefitType, Residence
from app.domain.events import (
    CaseFact,
    LifeEvents,
    MoratoriumFact,
    RegistryFact,
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
    # The registry values deciding cycles, for a recipient with any change (docs/policy.md §3).
    registry: list[RegistryFact] = field(default_factory=list)

    def events(self, moratoria: Sequence[MoratoriumFact]) -> LifeEvents:
        return LifeEvents(
            stops=tuple(self.stops),
            cases=tuple(self.cases),
            steps=tuple(self.steps),
            moratoria=tuple(moratoria),
            registry=tuple(self.registry),
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
            *(r.recorded_at for r in facts.registry),
        ]
        return max((i for i in instants if i <= known_at), default=None)


class BenefitRow(Protocol):
    """What the answer paths read of a benefit: an ORM `Benefit` or a `BenefitRecord`."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def benefit_type(self) -> BenefitType: ...
    @property
    def agency_code(self) -> str: ...
    @property
    def start_date(self) -> date: ...
    @property
    def approved(self) -> bool: ...
    @property
    def external_ref(self) -> str | None: ...
    @property
    def funeral_subsidy_area(self) -> bool | None: ...
    @property
    def created_at(self) -> datetime: ...


class RecipientRow(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def residence(self) -> Residence: ...
    @property
    def emergency_contacts(self) -> int: ...
    @property
    def benefits(self) -> Sequence[BenefitRow]: ...


@dataclass(frozen=True, slots=True)
class BenefitRecord:
    id: uuid.UUID
    benefit_type: BenefitType
    agency_code: str
    start_date: date
    approved: bool
    external_ref: str | None
    funeral_subsidy_area: bool | None
    created_at: datetime


# The columns of a `BenefitRecord`, in its fields' order (every path that reads benefits as
# columns selects these, after whatever identifies the row).
BENEFIT_COLUMNS: Final = (
    Benefit.id,
    Benefit.benefit_type,
    Benefit.agency_code,
    Benefit.start_date,
    Benefit.approved,
    Benefit.external_ref,
    Benefit.funeral_subsidy_area,
    Benefit.created_at,
)


@dataclass(frozen=True, slots=True)
class RecipientRecord:
    """A recipient as the eligibility answer needs it, read without the ORM."""

    id: uuid.UUID
    residence: Residence
    emergency_contacts: int
    benefits: tuple[BenefitRecord, ...]


def chunks(items: list[Any]) -> Iterator[list[Any]]:
    """``items`` in slices of `IN_CHUNK`, one IN list each."""
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def benefit_facts(benefit: BenefitRow) -> BenefitFacts:
    return BenefitFacts(
        benefit_id=str(benefit.id),
        benefit_type=benefit.benefit_type,
        agency_code=benefit.agency_code,
        start_date=benefit.start_date,
        approved=benefit.approved,
        funeral_subsidy_area=benefit.funeral_subsidy_area,
    )


def recipient_facts(recipient: RecipientRow) -> RecipientFacts:
    return RecipientFacts(
        residence=recipient.residence, emergency_contacts=recipient.emergency_contacts
    )


def registry_fact(
    benefit_id: uuid.UUID | str | None,
    contacts: int | None,
    funeral: bool | None,
    valid_from: datetime,
    recorded_at: datetime,
) -> RegistryFact:
    """A stored registry value (`RegistryHistory`) as the engine reads it."""
    if benefit_id is None:
        return RegistryFact(None, contacts, valid_from, recorded_at)
    return RegistryFact(str(benefit_id), funeral, valid_from, recorded_at)


def registry_facts(rows: Iterable[Any]) -> list[RegistryFact]:
    """Rows of (benefit_id, emergency_contacts, funeral_subsidy_area, valid_from, recorded_at)."""
    return [registry_fact(*row) for row in rows]


def benefit_record_of(b: Sequence[Any]) -> BenefitRecord:
    """The `BENEFIT_COLUMNS`, the type as text."""
    return BenefitRecord(
        id=b[0],
        benefit_type=BenefitType(b[1]),
        agency_code=b[2],
        start_date=b[3],
        approved=b[4],
        external_ref=b[5],
        funeral_subsidy_area=b[6],
        created_at=b[7],
    )
