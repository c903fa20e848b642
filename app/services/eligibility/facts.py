"""Loading what the engine needs, for one recipient or ten thousand, in a fixed number of
queries: every answer path (single, batch check, payment run) goes through here, so they
cannot see different facts."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload

from app.db.models import (
    Certification,
    Moratorium,
    Recipient,
    ResumptionStep,
    StopReport,
    VerificationCase,
)
from app.db.read_pool import CONNECTION_LOST, ReadPool
from app.domain.eligibility import BenefitFacts, CertificationFact, RecipientFacts
from app.domain.enums import BenefitType, Channel, Residence, ResumptionMode
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
from app.errors import DatabaseUnavailable
from app.services.recipients.registry import changed_registry_rows, registry_fact, registry_facts

logger = logging.getLogger("certsvc.errors")

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


async def load_facts(session: AsyncSession, recipient_ids: Collection[uuid.UUID]) -> FactBook:
    """Six queries per chunk of recipients (certifications, stops, cases, steps, registry
    history) plus one for
    the moratoria, however many recipients are asked about; on PostgreSQL one statement per
    chunk plus one, on the session's own connection (it sees the session's transaction)."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return await _load_facts_postgresql(session, recipient_ids)
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
        for rid, bid, contacts, funeral, valid_from, recorded_at in await session.execute(
            changed_registry_rows(chunk)
        ):
            facts[rid].registry.append(
                registry_fact(bid, contacts, funeral, valid_from, recorded_at)
            )
    # Moratoria are few (an admin sets them): the engine matches prefixes and types.
    moratoria = [moratorium_fact(row) for row in await session.scalars(select(Moratorium))]
    return FactBook({rid: facts[rid] for rid in recipient_ids}, moratoria)


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


@dataclass(frozen=True, slots=True)
class RecipientRecord:
    """A recipient as the eligibility answer needs it, read without the ORM."""

    id: uuid.UUID
    residence: Residence
    emergency_contacts: int
    benefits: tuple[BenefitRecord, ...]


# One statement for everything one recipient's answer needs, so a point read is one round trip
# and one snapshot: the recipient, its benefits in registration order (ordered exactly as the
# ORM relationship orders them, so that benefits registered together, whose created_at is
# equal, come in the same order on both paths), its counted
# certifications (the columns `load_facts` reads), its stop reports, cases and steps, and the
# moratoria. Arrays of anonymous records arrive from asyncpg typed, as tuples.
_FACT_ARRAYS = """
  ARRAY(SELECT ROW(c.id, c.channel, c.occurred_at, c.recorded_at, c.counted, c.revoked_at)
        FROM certifications c WHERE c.recipient_id = r.id AND c.counted) AS certifications,
  ARRAY(SELECT ROW(s.id, s.reason, s.benefit_id, s.occurred_on, s.recorded_at, s.suspected,
                   s.documents::text)
        FROM stop_reports s WHERE s.recipient_id = r.id) AS stops,
  ARRAY(SELECT ROW(v.id, v.benefit_id, v.stop_report_id, v.opened_at, v.outcome,
                   v.effective_on, v.resolved_at)
        FROM verification_cases v WHERE v.recipient_id = r.id) AS cases,
  ARRAY(SELECT ROW(p.kind, p.completed_on, p.recorded_at)
        FROM resumption_steps p WHERE p.recipient_id = r.id) AS steps,
  ARRAY(SELECT ROW(h.benefit_id, h.emergency_contacts, h.funeral_subsidy_area, h.valid_from,
                   h.recorded_at)
        FROM registry_history h WHERE h.recipient_id = r.id
          AND EXISTS (SELECT FROM registry_history c WHERE c.recipient_id = r.id AND c.is_change)
       ) AS registry"""
_MORATORIA_ARRAY = """
  ARRAY(SELECT ROW(m.id, m.agency_code, m.benefit_types::text, m.starts_on, m.ends_on,
                   m.created_at)
        FROM moratoria m) AS moratoria"""
# The statements are assembled from the constant fragments above, never from input.
_ONE_RECIPIENT = f"""
SELECT r.residence, r.emergency_contacts,
  ARRAY(SELECT ROW(b.id, b.benefit_type, b.agency_code, b.start_date, b.approved,
                   b.external_ref, b.funeral_subsidy_area, b.created_at)
        FROM benefits b WHERE b.recipient_id = r.id ORDER BY b.created_at) AS benefits,
  {_FACT_ARRAYS},
  {_MORATORIA_ARRAY}
FROM recipients r WHERE r.id = $1
"""  # noqa: S608
# The same facts for many recipients at once (load_facts on PostgreSQL): one row per id asked.
_MANY_RECIPIENTS = f"SELECT r.id, {_FACT_ARRAYS} FROM unnest($1::uuid[]) AS r(id)"  # noqa: S608
_ALL_MORATORIA = f"SELECT {_MORATORIA_ARRAY}"


async def load_recipient_facts(
    session: AsyncSession, recipient_id: uuid.UUID, pool: ReadPool | None = None
) -> tuple[RecipientRow, FactBook] | None:
    """One recipient with its benefits, and the facts `load_facts` would give for it; None
    when there is no such recipient.

    On PostgreSQL: one statement, no ORM, through ``pool`` (no transaction: one statement is
    one snapshot), or through the session's connection when the session is bound to one (it
    then sees what that connection's transaction sees). On SQLite: the ORM queries of the
    other paths."""
    bind = session.bind
    if bind is None or bind.dialect.name != "postgresql":
        return await _load_recipient_facts_orm(session, recipient_id)
    if pool is None or isinstance(bind, AsyncConnection):
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        row = await raw.driver_connection.fetchrow(_ONE_RECIPIENT, recipient_id)  # type: ignore[union-attr]
        return _recipient_from_row(recipient_id, row)
    return await load_recipient_facts_pooled(pool, recipient_id)


async def load_recipient_facts_pooled(
    pool: ReadPool, recipient_id: uuid.UUID
) -> tuple[RecipientRow, FactBook] | None:
    """`load_recipient_facts` through the read pool alone, for a caller that knows the pool
    may answer (PostgreSQL, no transaction of its own to see into): no session is made."""
    try:
        row = await pool.fetchrow(_ONE_RECIPIENT, recipient_id)
    except CONNECTION_LOST as exc:
        # As app/errors.py answers the engine's connection failures: 503, never a 500.
        logger.warning("database unavailable: %s", type(exc).__name__)
        raise DatabaseUnavailable(
            "The database cannot be reached; try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    return _recipient_from_row(recipient_id, row)


def _recipient_from_row(recipient_id: uuid.UUID, row: Any) -> tuple[RecipientRow, FactBook] | None:
    if row is None:
        return None
    recipient = RecipientRecord(
        id=recipient_id,
        residence=Residence(row["residence"]),
        emergency_contacts=row["emergency_contacts"],
        benefits=tuple(
            BenefitRecord(
                id=b[0],
                benefit_type=BenefitType(b[1]),
                agency_code=b[2],
                start_date=b[3],
                approved=b[4],
                external_ref=b[5],
                funeral_subsidy_area=b[6],
                created_at=b[7],
            )
            for b in row["benefits"]
        ),
    )
    facts = _facts_from_arrays(
        row["certifications"], row["stops"], row["cases"], row["steps"], row["registry"]
    )
    moratoria = _moratoria_from_array(row["moratoria"])
    return recipient, FactBook({recipient_id: facts}, moratoria)


def _facts_from_arrays(
    certifications: Sequence[Any],
    stops: Sequence[Any],
    cases: Sequence[Any],
    steps: Sequence[Any],
    registry: Sequence[Any],
) -> Facts:
    """One recipient's facts from the typed record arrays the PostgreSQL statements return."""
    return Facts(
        certifications=[
            CertificationFact(
                certification_id=str(c[0]),
                channel=Channel(c[1]),
                occurred_at=c[2],
                recorded_at=c[3],
                counted=c[4],
                revoked_at=c[5],
            )
            for c in certifications
        ],
        stops=[
            StopEventFact(
                event_id=str(s[0]),
                reason=StopReason(s[1]),
                benefit_id=None if s[2] is None else str(s[2]),
                occurred_on=s[3],
                recorded_at=s[4],
                suspected=s[5],
                has_documents=bool(orjson.loads(s[6])),
            )
            for s in stops
        ],
        cases=[
            CaseFact(
                case_id=str(v[0]),
                benefit_id=None if v[1] is None else str(v[1]),
                stop_event_id=None if v[2] is None else str(v[2]),
                opened_at=v[3],
                outcome=None if v[4] is None else CaseOutcome(v[4]),
                effective_on=v[5],
                resolved_at=v[6],
            )
            for v in cases
        ],
        steps=[
            ResumptionStepFact(kind=ResumptionMode(p[0]), on=p[1], recorded_at=p[2]) for p in steps
        ],
        registry=registry_facts(registry),
    )


def _moratoria_from_array(moratoria: Sequence[Any]) -> list[MoratoriumFact]:
    return [
        MoratoriumFact(
            moratorium_id=str(m[0]),
            agency_prefix=m[1],
            benefit_types=frozenset(BenefitType(value) for value in orjson.loads(m[2])),
            starts_on=m[3],
            ends_on=m[4],
            created_at=m[5],
        )
        for m in moratoria
    ]


async def _load_recipient_facts_orm(
    session: AsyncSession, recipient_id: uuid.UUID
) -> tuple[RecipientRow, FactBook] | None:
    recipient = await session.scalar(
        select(Recipient)
        .where(Recipient.id == recipient_id)
        .options(selectinload(Recipient.benefits))
        .execution_options(populate_existing=True)
    )
    if recipient is None:
        return None
    return recipient, await load_facts(session, [recipient.id])


async def _load_facts_postgresql(
    session: AsyncSession, recipient_ids: Collection[uuid.UUID]
) -> FactBook:
    # Straight on asyncpg: through SQLAlchemy a 1000-recipient batch spent three times as
    # long building rows and planning the four IN lists as in the statements themselves.
    connection = await (await session.connection()).get_raw_connection()
    driver = connection.driver_connection
    assert driver is not None
    by_recipient: dict[uuid.UUID, Facts] = {}
    for chunk in _chunks(list(dict.fromkeys(recipient_ids))):
        for row in await driver.fetch(_MANY_RECIPIENTS, chunk):
            by_recipient[row[0]] = _facts_from_arrays(row[1], row[2], row[3], row[4], row[5])
    moratoria = _moratoria_from_array(await driver.fetchval(_ALL_MORATORIA))
    return FactBook({rid: by_recipient[rid] for rid in recipient_ids}, moratoria)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
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


def moratorium_fact(row: MoratoriumRow) -> MoratoriumFact:
    return MoratoriumFact(
        moratorium_id=str(row.id),
        agency_prefix=row.agency_code,
        benefit_types=frozenset(BenefitType(value) for value in row.benefit_types),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        created_at=row.created_at,
    )
