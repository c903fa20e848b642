"""A payment run through SQLAlchemy Core: SQLite's path (PostgreSQL's is
app/db/runs/postgresql.py, which reads through asyncpg and can hand spans to decision
processes; this one works there too).

Reading: one read-only transaction for the whole run (on SQLite a WAL reader, which takes no
lock that writers wait for), so every chunk sees one database state; decisions still ignore
anything recorded after the run's ``known_at``. Benefits in scope are read in one ordered scan,
and each chunk's recipients, certifications, stop reports, cases and steps in one query per
kind, columns only.

Writing: each chunk in its own short transaction on another connection: its page (the NDJSON
bytes served and hashed), the same items as typed rows for audit queries, and the run's
heartbeat, fenced by the computation's claim (app/db/runs/claims.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import SessionMaker, create_sessionmaker
from app.db.facts import (
    BENEFIT_COLUMNS,
    case_fact,
    changed_registry_rows,
    counted_certification_rows,
    moratorium_fact,
    registry_fact,
    step_fact,
    stop_fact,
)
from app.db.filters import in_regions
from app.db.models import (
    Benefit,
    Moratorium,
    PaymentRunItem,
    PaymentRunPage,
    Recipient,
    RegistryHistory,
    ResumptionStep,
    StopReport,
    VerificationCase,
)
from app.db.runs import ledger as run_ledger
from app.db.runs.claims import RunClaim, fence
from app.db.runs.rows import (
    ITEM_COLUMNS,
    BenefitRow,
    CertificationRow,
    Chunk,
    ItemRecord,
    RecipientRow,
    Scope,
)
from app.db.runs.source import FanOut, RunPage
from app.domain.events import MoratoriumFact, RegistryFact
from app.domain.months import Month

# Bound parameters per IN list on SQLite.
_IN_CHUNK = 5000


class CoreReader:
    """A run's input in chunks of whole recipients, all read in one transaction."""

    def __init__(
        self,
        connection: AsyncConnection,
        scope: str,
        month: Month,
        known_at: datetime,
        chunk_benefits: int,
    ) -> None:
        self.connection = connection
        self.scope = scope
        self.month = month
        self.known_at = known_at
        self.chunk_benefits = chunk_benefits
        self.moratoria: list[MoratoriumFact] = []
        self.prior = run_ledger.PriorRuns()
        self.planned = 0  # benefits in scope in this transaction's snapshot
        # Kinds of facts that have no row at all are not asked for chunk by chunk.
        self._events: dict[str, bool] = {}

    async def start(self) -> None:
        rows = await self.connection.execute(
            select(
                Moratorium.id,
                Moratorium.agency_code,
                Moratorium.benefit_types,
                Moratorium.starts_on,
                Moratorium.ends_on,
                Moratorium.created_at,
            )
        )
        self.moratoria = [moratorium_fact(row) for row in rows]
        self.prior = await run_ledger.prior_runs(
            self.connection, self.scope, self.month, self.known_at
        )
        self.planned = (
            await self.connection.scalar(select(func.count()).select_from(self._in_scope()))
        ) or 0
        for model in (StopReport, VerificationCase, ResumptionStep):
            found = await self.connection.scalar(select(exists(model.__table__)))
            self._events[model.__tablename__] = bool(found)
        changed = exists().where(RegistryHistory.is_change)
        self._events["registry_history"] = bool(await self.connection.scalar(select(changed)))

    def _in_scope(self) -> Any:
        return (
            select(Benefit.id)
            .where(
                in_regions(Benefit.agency_code, [self.scope]),
                Benefit.created_at <= self.known_at,
            )
            .subquery()
        )

    def _benefits_query(self) -> Any:
        return (
            select(Benefit.recipient_id, *BENEFIT_COLUMNS)
            .where(
                in_regions(Benefit.agency_code, [self.scope]),
                Benefit.created_at <= self.known_at,
            )
            .order_by(Benefit.recipient_id, Benefit.created_at, Benefit.id)
        )

    async def _events_of(self, ids: Sequence[Any]) -> dict[str, list[tuple[str, Any]]]:
        """Stop reports, cases and steps of these recipients (few: columns via Core)."""
        found: dict[str, list[tuple[str, Any]]] = {"stops": [], "cases": [], "steps": []}
        for part in _slices(ids, _IN_CHUNK):
            if self._events["stop_reports"]:
                for row in await self.connection.execute(
                    select(
                        StopReport.recipient_id,
                        StopReport.id,
                        StopReport.reason,
                        StopReport.benefit_id,
                        StopReport.occurred_on,
                        StopReport.recorded_at,
                        StopReport.suspected,
                        StopReport.documents,
                    ).where(StopReport.recipient_id.in_(part))
                ):
                    found["stops"].append((str(row.recipient_id), stop_fact(row)))
            if self._events["verification_cases"]:
                for case in await self.connection.execute(
                    select(
                        VerificationCase.recipient_id,
                        VerificationCase.id,
                        VerificationCase.benefit_id,
                        VerificationCase.stop_report_id,
                        VerificationCase.opened_at,
                        VerificationCase.outcome,
                        VerificationCase.effective_on,
                        VerificationCase.resolved_at,
                    ).where(VerificationCase.recipient_id.in_(part))
                ):
                    found["cases"].append((str(case.recipient_id), case_fact(case)))
            if self._events["resumption_steps"]:
                for step in await self.connection.execute(
                    select(
                        ResumptionStep.recipient_id,
                        ResumptionStep.kind,
                        ResumptionStep.completed_on,
                        ResumptionStep.recorded_at,
                    ).where(ResumptionStep.recipient_id.in_(part))
                ):
                    found["steps"].append((str(step.recipient_id), step_fact(step)))
        return found

    async def chunks(self) -> AsyncIterator[Chunk]:
        result = await self.connection.stream(self._benefits_query())
        held: list[Any] = []
        async for partition in result.partitions(self.chunk_benefits):
            rows = [_benefit_row(row) for row in partition]
            benefits, held = _whole_recipients(held + rows, done=False)
            if benefits:
                yield await self._chunk(benefits)
        if held:
            yield await self._chunk(held)

    async def _chunk(self, benefits: list[BenefitRow]) -> Chunk:
        ids = [uuid.UUID(rid) for rid in dict.fromkeys(row[0] for row in benefits)]
        recipients: dict[str, RecipientRow] = {}
        certifications: list[CertificationRow] = []
        for part in _slices(ids, _IN_CHUNK):
            for person in await self.connection.execute(
                select(Recipient.id, Recipient.residence, Recipient.emergency_contacts).where(
                    Recipient.id.in_(part)
                )
            ):
                recipients[str(person.id)] = (str(person.residence), person.emergency_contacts)
            for row in await self.connection.execute(counted_certification_rows(part)):
                certifications.append(
                    (
                        str(row.recipient_id),
                        str(row.id),
                        str(row.channel),
                        row.occurred_at,
                        row.recorded_at,
                        row.revoked_at,
                    )
                )
        events = await self._events_of(ids)
        registry: list[tuple[str, RegistryFact]] = []
        if self._events["registry_history"]:
            for part in _slices(ids, _IN_CHUNK):
                rows = await self.connection.execute(changed_registry_rows(part))
                for rid, bid, contacts, funeral, valid_from, recorded_at in rows:
                    fact = registry_fact(bid, contacts, funeral, valid_from, recorded_at)
                    registry.append((str(rid), fact))
        return Chunk(
            benefits,
            recipients,
            certifications,
            events["stops"],
            events["cases"],
            events["steps"],
            registry,
            await run_ledger.ledgers(self.connection, self.prior, [row[1] for row in benefits]),
        )


class PortableReading:
    """A run being read through SQLAlchemy Core in one read-only transaction, its pages
    stored each in its own transaction."""

    fan_out: FanOut | None = None

    def __init__(self, reader: CoreReader, sessions: SessionMaker) -> None:
        self._reader = reader
        self._sessions = sessions
        self.planned = reader.planned
        self.moratoria = reader.moratoria
        self.prior = reader.prior

    async def pages(self) -> AsyncIterator[RunPage]:
        page, seq = 0, 1
        async for chunk in self._reader.chunks():
            page += 1
            yield RunPage(page, seq, len(chunk.benefits), chunk)
            seq += len(chunk.benefits)

    async def store(
        self, claim: RunClaim, page: RunPage, body: bytes, records: list[ItemRecord]
    ) -> None:
        await write_page(self._sessions, claim, page.page, page.first_seq, body, records)


class PortableRunSource:
    """Payment runs read and stored through SQLAlchemy Core: SQLite's way, and PostgreSQL's
    too where asyncpg is not at hand."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = create_sessionmaker(engine)

    @asynccontextmanager
    async def reading(
        self, scope: Scope, month: Month, span_benefits: int
    ) -> AsyncIterator[PortableReading]:
        """The run's input inside one read-only transaction, rolled back at the end."""
        async with self.engine.connect() as opened:
            # On SQLite a deferred BEGIN (app/db/engine.py): a WAL reader, no write lock.
            connection = await opened.execution_options(read_only=True)
            async with connection.begin() as transaction:
                reader = CoreReader(connection, scope.prefix, month, scope.known_at, span_benefits)
                await reader.start()
                try:
                    yield PortableReading(reader, self.sessions)
                finally:
                    await transaction.rollback()


def _whole_recipients(rows: list[Any], done: bool) -> tuple[list[Any], list[Any]]:
    """Split rows ordered by recipient into whole recipients and the last one's rows, which
    the next fetch may continue (all of them when ``done``)."""
    if done or not rows:
        return rows, []
    last = rows[-1][0]
    cut = len(rows)
    while cut > 0 and rows[cut - 1][0] == last:
        cut -= 1
    if cut == 0:  # one recipient fills the whole fetch: keep reading it
        return [], rows
    return rows[:cut], rows[cut:]


def _benefit_row(row: Any) -> BenefitRow:
    return (str(row[0]), str(row[1]), str(row[2]), row[3], row[4], row[5], row[6], row[7], row[8])


def _slices(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- writing ------------------------------------------------------------------------------


async def write_page(
    sessions: SessionMaker,
    claim: RunClaim,
    page: int,
    first_seq: int,
    body: bytes,
    records: list[ItemRecord],
) -> None:
    """Beat the run's heartbeat if the claim holds (ClaimLost otherwise), then store one
    chunk's page and its items, in one transaction (never the reading one)."""
    async with sessions() as session, session.begin():
        await fence(session, claim, items=first_seq + len(records) - 1)
        await session.execute(
            insert(PaymentRunPage).values(
                run_id=claim.run_id,
                page=page,
                first_seq=first_seq,
                items=len(records),
                body=body,
            )
        )
        await session.execute(insert(PaymentRunItem), [_item_of(record) for record in records])


def _item_of(record: ItemRecord) -> dict[str, Any]:
    item = dict(zip(ITEM_COLUMNS, record, strict=True))
    item["benefit_id"] = uuid.UUID(record[2])
    item["recipient_id"] = uuid.UUID(record[3])
    item["back_pay_months"] = orjson.loads(record[9])
    item["overpaid_months"] = orjson.loads(record[10])
    return item
