"""A payment run on PostgreSQL, through the asyncpg driver: plan the run in spans of
recipients, read a span's input as tuples, store a span's page and items.

All reads happen in REPEATABLE READ READ ONLY transactions that share the snapshot the run
exported when it started, whichever connection or process reads a span, so the whole run sees
one database state; such transactions take no locks writers wait for. A span is a range of
recipient ids holding about the span size's benefits in scope, whole recipients only; its
items are numbered in advance, so spans can be decided in any order and by any process and
still give the same lines in the same places.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.facts import (
    case_fact_of,
    moratorium_fact_of,
    registry_fact,
    step_fact_of,
    stop_fact_of,
)
from app.db.runs import ledger as run_ledger
from app.db.runs.claims import RunClaim, fence_raw
from app.db.runs.rows import ITEM_COLUMNS, BenefitRow, CertificationRow, Chunk, ItemRecord, Scope
from app.db.runs.source import FanOut, RunPage
from app.domain.events import MoratoriumFact
from app.domain.months import Month


@dataclass(frozen=True, slots=True)
class Span:
    """Recipients ``first`` … ``last`` (ids as text, inclusive) and their ``items`` benefits in
    scope, numbered from ``first_seq``; stored as page ``page``."""

    page: int
    first: str
    last: str
    first_seq: int
    items: int


# Spans: each recipient goes to the span its first benefit's number falls in.
# In scope: $1 <= agency_code < $2 (the prefix's range) and created_at <= $3 (known_at).
_PLAN = """
WITH per_recipient AS (
    SELECT b.recipient_id, count(*) AS n FROM benefits b
    WHERE b.agency_code >= $1 AND b.agency_code < $2 AND b.created_at <= $3
    GROUP BY b.recipient_id
), numbered AS (
    SELECT recipient_id, n, (sum(n) OVER (ORDER BY recipient_id))::bigint - n AS before
    FROM per_recipient
)
SELECT min(recipient_id::text) AS first, max(recipient_id::text) AS last,
       min(before) + 1 AS first_seq, sum(n)::bigint AS items
FROM numbered GROUP BY before / $4 ORDER BY first
"""
# Each statement reads one table through one index (a range of the benefits' recipient index,
# or the span's recipient ids), so its plan cannot turn into a scan of a whole table.
_BENEFITS = """
SELECT b.recipient_id::text, b.id::text, b.benefit_type, b.agency_code, b.start_date,
       b.approved, b.external_ref, b.funeral_subsidy_area, b.created_at
FROM benefits b
WHERE b.agency_code >= $1 AND b.agency_code < $2 AND b.created_at <= $3
  AND b.recipient_id >= $4::uuid AND b.recipient_id <= $5::uuid
ORDER BY b.recipient_id, b.created_at, b.id
"""
_RECIPIENTS = """
SELECT id::text, residence, emergency_contacts FROM recipients WHERE id = ANY($1::uuid[])
"""
_CERTIFICATIONS = """
SELECT recipient_id::text, id::text, channel, occurred_at, recorded_at, revoked_at
FROM certifications WHERE counted AND recipient_id = ANY($1::uuid[])
"""
# Stop reports, cases and steps in the columns of the fact statements' records
# (app/db/facts/records.py converts both), the recipient's id last.
_STOPS = """
SELECT id::text, reason, benefit_id::text, occurred_on, recorded_at, suspected, documents::text,
       recipient_id::text
FROM stop_reports WHERE recipient_id = ANY($1::uuid[])
"""
_CASES = """
SELECT id::text, benefit_id::text, stop_report_id::text, opened_at, outcome, effective_on,
       resolved_at, recipient_id::text
FROM verification_cases WHERE recipient_id = ANY($1::uuid[])
"""
_STEPS = """
SELECT kind, completed_on, recorded_at, recipient_id::text
FROM resumption_steps WHERE recipient_id = ANY($1::uuid[])
"""
# The registry history of the span's recipients with any change
# (app/services/recipients/registry.py).
_REGISTRY = """
SELECT h.recipient_id::text, h.benefit_id::text, h.emergency_contacts, h.funeral_subsidy_area,
       h.valid_from, h.recorded_at
FROM registry_history h
WHERE h.recipient_id IN (SELECT c.recipient_id FROM registry_history c
                         WHERE c.is_change AND c.recipient_id = ANY($1::uuid[]))
"""
_MORATORIA = """
SELECT id::text, agency_code, benefit_types::text, starts_on, ends_on, created_at FROM moratoria
"""
_ANY_EVENTS = {
    "stop_reports": "SELECT EXISTS (SELECT FROM stop_reports)",
    "verification_cases": "SELECT EXISTS (SELECT FROM verification_cases)",
    "resumption_steps": "SELECT EXISTS (SELECT FROM resumption_steps)",
    "registry_history": "SELECT EXISTS (SELECT FROM registry_history WHERE is_change)",
}


@dataclass(frozen=True, slots=True)
class RunInput:
    """What every span of a run shares: its scope, the moratoria, which kinds of events
    exist at all (a kind with no row is not asked for span by span), and the stored runs its
    back pay is reconciled against."""

    scope: Scope
    moratoria: tuple[MoratoriumFact, ...]
    events: frozenset[str]
    prior: run_ledger.PriorRuns = field(default_factory=run_ledger.PriorRuns)


async def begin_snapshot(connection: asyncpg.Connection, snapshot: str | None) -> str:
    """Set up a just begun REPEATABLE READ READ ONLY transaction to read a run: on
    ``snapshot`` if given, else on one it exports; returns the snapshot's identifier."""
    if snapshot is None:
        snapshot = cast(str, await connection.fetchval("SELECT pg_export_snapshot()"))
    else:
        # The identifier comes from pg_export_snapshot(), never from a client.
        await connection.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    # Hundreds of small statements: compiling their plans to machine code or starting
    # parallel workers for each costs more than it saves.
    await connection.execute("SET LOCAL jit = off")
    await connection.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    # A generic plan cannot see that a span is a narrow range of recipients.
    await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    return snapshot


async def plan(
    connection: asyncpg.Connection, scope: Scope, month: Month, span_benefits: int
) -> tuple[RunInput, list[Span]]:
    """The run's shared input and its spans of about ``span_benefits``, in recipient order."""
    rows = await connection.fetch(_PLAN, *scope.bounds(), span_benefits)
    spans = [
        Span(page, row["first"], row["last"], row["first_seq"], row["items"])
        for page, row in enumerate(rows, start=1)
    ]
    moratoria = tuple(moratorium_fact_of(row) for row in await connection.fetch(_MORATORIA))
    events = [table for table, query in _ANY_EVENTS.items() if await connection.fetchval(query)]
    prior = await run_ledger.prior_runs_raw(connection, scope.prefix, month, scope.known_at)
    return RunInput(scope, moratoria, frozenset(events), prior), spans


async def read_span(connection: asyncpg.Connection, run: RunInput, span: Span) -> Chunk:
    """A span's benefits (ordered), their recipients and their facts, as tuples."""
    benefits = await connection.fetch(_BENEFITS, *run.scope.bounds(), span.first, span.last)
    ids = list(dict.fromkeys(row[0] for row in benefits))
    chunk = Chunk(
        benefits=cast(list[BenefitRow], benefits),
        recipients={row[0]: (row[1], row[2]) for row in await connection.fetch(_RECIPIENTS, ids)},
        certifications=cast(list[CertificationRow], await connection.fetch(_CERTIFICATIONS, ids)),
    )
    if "stop_reports" in run.events:
        chunk.stops = [(row[7], stop_fact_of(row)) for row in await connection.fetch(_STOPS, ids)]
    if "verification_cases" in run.events:
        chunk.cases = [(row[7], case_fact_of(row)) for row in await connection.fetch(_CASES, ids)]
    if "resumption_steps" in run.events:
        chunk.steps = [(row[3], step_fact_of(row)) for row in await connection.fetch(_STEPS, ids)]
    if "registry_history" in run.events:
        chunk.registry = [
            (row[0], registry_fact(*row[1:])) for row in await connection.fetch(_REGISTRY, ids)
        ]
    if run.prior.months:
        chunk.ledgers = await run_ledger.ledgers_raw(
            connection, run.prior, [row[1] for row in benefits]
        )
    return chunk


async def store_span(
    connection: asyncpg.Connection,
    claim: RunClaim,
    page: int,
    first_seq: int,
    body: bytes,
    records: list[ItemRecord],
) -> None:
    """Insert the span's page and its items (COPY), inside the caller's transaction, if the
    computation's claim still holds (ClaimLost otherwise: the fence locks the run's row first)."""
    await fence_raw(connection, claim)
    # No wait for this commit to reach the disk: the run is completed only by a later,
    # durable commit, and WAL order makes every earlier commit durable with it.
    await connection.execute("SET LOCAL synchronous_commit = off")
    await connection.execute(
        "INSERT INTO payment_run_pages (run_id, page, first_seq, items, body)"
        " VALUES ($1, $2, $3, $4, $5)",
        claim.run_id,
        page,
        first_seq,
        len(records),
        body,
    )
    await connection.copy_records_to_table(
        "payment_run_items", records=records, columns=ITEM_COLUMNS
    )


async def driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The pooled connection's asyncpg connection, its transactions left to asyncpg."""
    await connection.execution_options(isolation_level="AUTOCOMMIT")
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


class PostgresReading:
    """A run being read on PostgreSQL: planned in spans in a transaction on a snapshot it
    exported, each span read there and stored on a second connection; or handed, snapshot and
    spans, to decision processes (`fan_out`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        holder: asyncpg.Connection,
        run: RunInput,
        spans: list[Span],
        fan_out: FanOut,
    ) -> None:
        self._engine = engine
        self._holder = holder
        self._run = run
        self._spans = spans
        self._writer: asyncpg.Connection | None = None
        self._writing = AsyncExitStack()
        self.planned = sum(span.items for span in spans)
        self.moratoria = run.moratoria
        self.prior = run.prior
        self.fan_out: FanOut | None = fan_out

    async def pages(self) -> AsyncIterator[RunPage]:
        for span in self._spans:
            chunk = await read_span(self._holder, self._run, span)
            yield RunPage(span.page, span.first_seq, span.items, chunk)

    async def store(
        self, claim: RunClaim, page: RunPage, body: bytes, records: list[ItemRecord]
    ) -> None:
        if self._writer is None:
            opened = await self._writing.enter_async_context(self._engine.connect())
            self._writer = await driver_connection(opened)
        async with self._writer.transaction():
            await store_span(self._writer, claim, page.page, page.first_seq, body, records)

    async def close(self) -> None:
        await self._writing.aclose()


class PostgresRunSource:
    """Payment runs read and stored through asyncpg (docs/performance.md)."""

    def __init__(self, engine: AsyncEngine, *, pooled: bool = False) -> None:
        self.engine = engine
        self.pooled = pooled  # behind a transaction-mode pooler: no asyncpg statement cache

    @asynccontextmanager
    async def reading(
        self, scope: Scope, month: Month, span_benefits: int
    ) -> AsyncIterator[PostgresReading]:
        async with self.engine.connect() as holding:
            holder = await driver_connection(holding)
            async with holder.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await begin_snapshot(holder, None)
                run, spans = await plan(holder, scope, month, span_benefits)
                dsn = self.engine.url.set(drivername="postgresql")
                fan_out = FanOut(
                    dsn.render_as_string(hide_password=False), snapshot, run, spans, self.pooled
                )
                reading = PostgresReading(self.engine, holder, run, spans, fan_out)
                try:
                    yield reading
                finally:
                    await reading.close()
