"""What the facts are, however they were read: one recipient's `Facts`, the `FactBook` of many,
the shapes of the recipient and benefit rows the answer paths read, and the conversions from
stored rows to the engine's facts (`app.domain.eligibility`, `app.domain.events`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Protocol

import orjson

from app.db.models import Benefit
from app.domain.eligibility import BenefitFacts, CertificationFact, RecipientFacts
from app.domain.enums import BenefitType, Residence, ResumptionMode
from app.domain.events import (
    CaseFact,
    CaseOutcome,
    LifeEvents,
    MoratoriumFact,
    RegistryFact,
    ResumptionStepFact,
    StopEventFact,
    StopReason,
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


class MoratoriumRow(Protocol):
    """A `Moratorium` entity, or a row of its columns (payment runs read with Core)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def agency_code(self) -> str: ...
    @property
    def benefit_types(self) -> list[str]: ...
    @property
    def starts_on(self) -> date: ...
    @property
    def ends_on(self) -> date: ...
    @property
    def created_at(self) -> datetime: ...


class StopRow(Protocol):
    """A `StopReport` entity, or a row of its columns (payment runs read with Core)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def reason(self) -> StopReason: ...
    @property
    def benefit_id(self) -> uuid.UUID | None: ...
    @property
    def occurred_on(self) -> date: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def suspected(self) -> bool: ...
    @property
    def documents(self) -> list[str]: ...


class CaseRow(Protocol):
    """A `VerificationCase` entity, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def benefit_id(self) -> uuid.UUID | None: ...
    @property
    def stop_report_id(self) -> uuid.UUID | None: ...
    @property
    def opened_at(self) -> datetime: ...
    @property
    def outcome(self) -> CaseOutcome | None: ...
    @property
    def effective_on(self) -> date | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...


class StepRow(Protocol):
    """A `ResumptionStep` entity, or a row of its columns."""

    @property
    def kind(self) -> ResumptionMode: ...
    @property
    def completed_on(self) -> date: ...
    @property
    def recorded_at(self) -> datetime: ...


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


def stop_fact(row: StopRow) -> StopEventFact:
    return StopEventFact(
        event_id=str(row.id),
        reason=row.reason,
        benefit_id=None if row.benefit_id is None else str(row.benefit_id),
        occurred_on=row.occurred_on,
        recorded_at=row.recorded_at,
        suspected=row.suspected,
        has_documents=bool(row.documents),
    )


def case_fact(row: CaseRow) -> CaseFact:
    return CaseFact(
        case_id=str(row.id),
        benefit_id=None if row.benefit_id is None else str(row.benefit_id),
        stop_event_id=None if row.stop_report_id is None else str(row.stop_report_id),
        opened_at=row.opened_at,
        outcome=row.outcome,
        effective_on=row.effective_on,
        resolved_at=row.resolved_at,
    )


def step_fact(row: StepRow) -> ResumptionStepFact:
    return ResumptionStepFact(kind=row.kind, on=row.completed_on, recorded_at=row.recorded_at)


def moratorium_fact(row: MoratoriumRow) -> MoratoriumFact:
    return MoratoriumFact(
        moratorium_id=str(row.id),
        agency_prefix=row.agency_code,
        benefit_types=frozenset(BenefitType(value) for value in row.benefit_types),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        created_at=row.created_at,
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


# --- PostgreSQL's records -------------------------------------------------------------------
# The same conversions for the plain records asyncpg returns (ids as UUIDs or as text, enums
# and JSON as text), columns by position: the eligibility statements' record arrays
# (app/db/facts/postgresql.py) and a payment run's rows (app/db/runs/postgresql.py), which read
# the same columns in the same order, with anything else after them.


def stop_fact_of(s: Sequence[Any]) -> StopEventFact:
    """(id, reason, benefit_id, occurred_on, recorded_at, suspected, documents as JSON text)"""
    return StopEventFact(
        event_id=str(s[0]),
        reason=StopReason(s[1]),
        benefit_id=None if s[2] is None else str(s[2]),
        occurred_on=s[3],
        recorded_at=s[4],
        suspected=s[5],
        has_documents=s[6] is not None and bool(orjson.loads(s[6])),
    )


def case_fact_of(v: Sequence[Any]) -> CaseFact:
    """(id, benefit_id, stop_report_id, opened_at, outcome, effective_on, resolved_at)"""
    return CaseFact(
        case_id=str(v[0]),
        benefit_id=None if v[1] is None else str(v[1]),
        stop_event_id=None if v[2] is None else str(v[2]),
        opened_at=v[3],
        outcome=None if v[4] is None else CaseOutcome(v[4]),
        effective_on=v[5],
        resolved_at=v[6],
    )


def step_fact_of(p: Sequence[Any]) -> ResumptionStepFact:
    """(kind, completed_on, recorded_at)"""
    return ResumptionStepFact(kind=ResumptionMode(p[0]), on=p[1], recorded_at=p[2])


def moratorium_fact_of(m: Sequence[Any]) -> MoratoriumFact:
    """(id, agency_code, benefit_types as JSON text, starts_on, ends_on, created_at)"""
    return MoratoriumFact(
        moratorium_id=str(m[0]),
        agency_prefix=m[1],
        benefit_types=frozenset(BenefitType(value) for value in orjson.loads(m[2])),
        starts_on=m[3],
        ends_on=m[4],
        created_at=m[5],
    )


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
