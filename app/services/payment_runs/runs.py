"""Payment runs: every benefit of an agency prefix decided for a month and stored unchanged.

A run is decided *as known at* its creation instant (``known_at``): facts recorded later are
invisible to it, and all its input is read in one read-only snapshot, so its decisions are
those of one point in time, and a run restarted after a crash reproduces them. Its items are
written in short transactions, a chunk at a time (ingest is never blocked behind one giant
transaction). The computation runs in the background of the API process that accepted the
request, or in a `certsvc worker` process (run_queue.py, CERTSVC_RUN_COMPUTE=worker); clients
poll the run's status. Each decision is rendered once, as the NDJSON line
that is stored in a page, hashed into the run's digest and served as stored
(run_compute.py decides, run_store.py reads and writes).

One computation at a time holds a run's claim, and every write it makes is fenced by it
(app/db/run_claims.py): a run whose process died is taken over by exactly one later request,
and it is completed only in the transaction that proves every item stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.auth import Principal
from app.db import run_claims
from app.db.base import new_id, utcnow
from app.db.engine import SessionMaker
from app.db.models import PaymentRun, PaymentRunItem, PaymentRunPage
from app.db.run_claims import RunClaim, RunIncomplete
from app.db.upsert import insert_for
from app.domain.months import Month
from app.domain.policy import PolicyBook
from app.errors import Conflict, NotFound
from app.schemas.payments import PaymentRunCreate, PaymentRunRead, RunCounts
from app.services.accounts import audit
from app.services.eligibility.policies import today
from app.services.payment_runs import workers as run_workers
from app.services.payment_runs.compute import ITEM_FIELDS, RunDecider, render_line
from app.services.payment_runs.portable import reading, write_page
from app.services.payment_runs.postgresql import Scope, SpanResult, SpanWork, begin_snapshot, plan
from app.settings import RunCompute, Settings

__all__ = [
    "ITEM_FIELDS",
    "RunOptions",
    "compute_run",
    "create_run",
    "get_run",
    "stream_items",
    "stream_lines",
]

logger = logging.getLogger("certsvc.payment_runs")
# Smaller runs on PostgreSQL are decided in the API process: starting workers costs ~1 s.
POOL_MIN_ITEMS = 50_000


def decision_day(month: Month, now: datetime) -> date:
    """The day a month is decided for: today within the month, else its nearest end."""
    current = today(now)
    return min(max(current, month.first_day), month.last_day)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How runs are computed: the lease a computation holds, and the benefits per span."""

    lease: timedelta = timedelta(seconds=300)
    span_benefits: int = 10_000
    pooled: bool = False  # behind a transaction-mode pooler (settings.db_transaction_pooler)
    in_api: bool = True  # computed by the API process that accepted it, not by run workers

    @classmethod
    def of(cls, settings: Settings) -> RunOptions:
        return cls(
            timedelta(seconds=settings.run_lease_seconds),
            settings.run_span_benefits,
            settings.db_transaction_pooler,
            settings.run_compute is RunCompute.API,
        )


async def create_run(
    session: AsyncSession,
    principal: Principal,
    body: PaymentRunCreate,
    now: datetime,
    options: RunOptions,
) -> tuple[PaymentRun, RunClaim | None]:
    """The existing run for the month and agency, unless ``new`` asks for another, with a claim
    to compute it when this call created it or took it over (its computation stopped beating:
    its process died). Of concurrent calls for a stalled run, one takes it over; a failed run is
    final, so the next call for its month and agency creates the next generation. When run
    workers compute runs (not ``options.in_api``) a stalled run is left to them (run_queue.py),
    and the claim of a new run is theirs to take."""
    latest = await session.scalar(
        select(PaymentRun)
        .where(PaymentRun.month == body.month, PaymentRun.agency_code == body.agency_code)
        .order_by(PaymentRun.generation.desc())
        .limit(1)
    )
    if latest is not None and not body.new and latest.status != "failed":
        if (
            options.in_api
            and latest.status in run_claims.COMPUTING
            and run_claims.is_stale(latest.heartbeat_at, options.lease)
        ):
            claim = await run_claims.take_over(session, latest, options.lease)
            await session.refresh(latest)
            if claim is not None:
                await audit.record(
                    session,
                    principal.client_id,
                    "payment_run.taken_over",
                    "payment_run",
                    latest.id,
                    now,
                    detail={"attempt": claim.attempt},
                )
            return latest, claim
        return latest, None
    generation = 1 if latest is None else latest.generation + 1
    month = Month.parse(body.month)
    run_id = await session.scalar(
        insert_for(session, PaymentRun)
        .values(
            id=new_id(),
            month=body.month,
            agency_code=body.agency_code,
            generation=generation,
            on=decision_day(month, now),
            known_at=now,
            status="pending",
            requested_by=principal.client_id,
            created_at=now,
            # Leases are wall-clock time, whatever the request's business date.
            heartbeat_at=utcnow(),
            attempt=1,
            items=0,
            payable=0,
            withheld=0,
            stopped=0,
        )
        .on_conflict_do_nothing()
        .returning(PaymentRun.id)
    )
    if run_id is None:  # another request created this generation first
        raced = await session.scalar(
            select(PaymentRun).where(
                PaymentRun.month == body.month,
                PaymentRun.agency_code == body.agency_code,
                PaymentRun.generation == generation,
            )
        )
        assert raced is not None
        return raced, None
    await audit.record(
        session,
        principal.client_id,
        "payment_run.created",
        "payment_run",
        run_id,
        now,
        detail={"month": body.month, "agency_code": body.agency_code, "generation": generation},
    )
    return await session.get_one(PaymentRun, run_id), RunClaim(
        run_id, 1, options.lease.total_seconds()
    )


async def compute_run(
    sessions: SessionMaker, policies: PolicyBook, claim: RunClaim, options: RunOptions
) -> None:
    """Decide every benefit in scope, storing it span by span, then seal the run: completed
    only once the stored pages prove the whole run (run_claims.seal). Errors mark the attempt
    failed; a computation that lost its claim to a takeover stops without writing."""
    try:
        await _compute(sessions, policies, claim, options)
    except run_claims.ClaimLost:
        _log_claim_lost(claim, None)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, RunIncomplete) else None
        async with sessions() as session, session.begin():
            failed = await run_claims.fail(session, claim, reason or type(exc).__name__)
        if failed:
            logger.exception("payment run failed", extra={"run_id": str(claim.run_id)})
        else:  # e.g. its transaction was ended while the process was frozen
            _log_claim_lost(claim, exc)


def _log_claim_lost(claim: RunClaim, cause: Exception | None) -> None:
    logger.warning(
        "payment run taken over; this computation stops",
        extra={
            "run_id": str(claim.run_id),
            "attempt": claim.attempt,
            "cause": None if cause is None else type(cause).__name__,
        },
    )


async def _compute(
    sessions: SessionMaker, policies: PolicyBook, claim: RunClaim, options: RunOptions
) -> None:
    async with sessions() as session, session.begin():
        run = await run_claims.start(session, claim)
        scope, on, known_at = run.agency_code, run.on, run.known_at
    tally = _Tally(sessions, claim)
    engine: AsyncEngine = sessions.kw["bind"]
    span = options.span_benefits
    if engine.dialect.name == "postgresql":
        await _decide_on_postgres(
            engine, policies, tally, Scope(scope, known_at), on, span, pooled=options.pooled
        )
    else:
        await _decide_in_process(sessions, policies, tally, Scope(scope, known_at), on, span)
    async with sessions() as session, session.begin():
        await run_claims.seal(session, claim, tally.digest.hexdigest())


class _Tally:
    """The run so far: its pages' digest, in order, and counts; beats the heartbeat, which
    fails (ClaimLost) once another computation took the run over."""

    def __init__(self, sessions: SessionMaker, claim: RunClaim) -> None:
        self.sessions = sessions
        self.claim = claim
        self.run_id = claim.run_id
        self.digest = hashlib.sha256()
        self.items = self.payable = self.withheld = self.stopped = 0

    def add(self, body: bytes, payable: int, withheld: int, stopped: int) -> None:
        self.digest.update(body)
        self.items += payable + withheld + stopped
        self.payable += payable
        self.withheld += withheld
        self.stopped += stopped

    async def planned(self, items: int) -> None:
        """The benefits the run's snapshot holds in scope: what the seal will demand."""
        await self.beat(planned=items)

    async def stored(self, span: SpanResult) -> None:
        """A span is stored: count it and beat (spans arrive in order)."""
        self.add(span.body, span.payable, span.withheld, span.stopped)
        await self.beat()

    async def beat(self, planned: int | None = None) -> None:
        # Never inside a reading transaction: under its snapshot the run's row could not be
        # updated (REPEATABLE READ), and it would hold a writer's lock on SQLite.
        async with self.sessions() as session, session.begin():
            await run_claims.fence(session, self.claim, items=self.items, planned=planned)


async def _decide_on_postgres(
    engine: AsyncEngine,
    policies: PolicyBook,
    tally: _Tally,
    scope: Scope,
    on: date,
    span_benefits: int,
    *,
    pooled: bool = False,
) -> None:
    """Export a snapshot, plan the spans, and decide them in worker processes (a big run) or
    here, in a thread (a small one). Pages are hashed in span order either way."""
    async with engine.connect() as holding:
        holder = await _driver_connection(holding)
        async with holder.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await begin_snapshot(holder, None)
            run, spans = await plan(holder, scope, Month.of(on), span_benefits)
            planned = sum(span.items for span in spans)
            await tally.planned(planned)
            decider = RunDecider(
                tally.run_id, policies, on, scope.known_at, run.moratoria, run.prior.stored
            )
            if planned < POOL_MIN_ITEMS or run_workers.WORKERS < 2:
                async with engine.connect() as writing:
                    work = SpanWork(
                        holder, await _driver_connection(writing), tally.claim, run, decider
                    )
                    for span in spans:
                        await tally.stored(await work(span, in_thread=True))
                return
            spec = run_workers.WorkerSpec(
                engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                snapshot,
                tally.claim,
                run,
                policies,
                on,
                scope.known_at,
                pooled,
            )
            await run_workers.decide_in_workers(spec, spans, tally.stored)


async def _driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The pooled connection's asyncpg connection, its transactions left to asyncpg."""
    await connection.execution_options(isolation_level="AUTOCOMMIT")
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


async def _decide_in_process(
    sessions: SessionMaker,
    policies: PolicyBook,
    tally: _Tally,
    scope: Scope,
    on: date,
    span_benefits: int,
) -> None:
    """SQLite: chunks read in one read-only transaction, decided in a thread (the API goes on
    answering), each written in its own transaction."""
    seq = page = 0
    engine = sessions.kw["bind"]
    async with reading(engine, scope.prefix, Month.of(on), scope.known_at, span_benefits) as reader:
        await tally.planned(reader.planned)
        decider = RunDecider(
            tally.run_id, policies, on, scope.known_at, reader.moratoria, reader.prior.stored
        )
        async for chunk in reader.chunks():
            decided = await asyncio.to_thread(decider.decide, chunk, seq + 1)
            body = b"".join(decided.lines)
            page += 1
            await write_page(sessions, tally.claim, page, seq + 1, body, decided.records)
            seq += len(decided.records)
            tally.add(body, decided.payable, decided.withheld, decided.stopped)


def item_line(row: Mapping[Any, Any]) -> bytes:
    """A stored item's NDJSON line: the bytes its run served and hashed."""
    return render_line(
        row["seq"],
        str(row["benefit_id"]),
        str(row["recipient_id"]),
        row["external_ref"],
        row["agency_code"],
        row["payable"],
        row["status"],
        row["reason"],
        row["back_pay_months"],
        row["overpaid_months"],
        row["policy_id"],
        row["valid_through"],
        row["last_record_at"],
    )


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> PaymentRun:
    run = await session.get(PaymentRun, run_id)
    if run is None:
        raise NotFound("no such payment run")
    return run


async def stream_lines(sessions: SessionMaker, run_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The run's NDJSON as stored when it was computed, a page at a time (constant memory).
    Runs computed before pages were stored are rendered from their items."""
    after = 0
    while True:
        async with sessions() as session:
            found = (
                await session.execute(
                    select(PaymentRunPage.page, PaymentRunPage.body)
                    .where(PaymentRunPage.run_id == run_id, PaymentRunPage.page > after)
                    .order_by(PaymentRunPage.page)
                    .limit(1)
                )
            ).first()
        if found is None:
            break
        after = found.page
        yield found.body
    if after == 0:
        async for chunk in stream_items(sessions, run_id, item_line):
            yield chunk


async def stream_items(
    sessions: SessionMaker, run_id: uuid.UUID, render: Callable[[Mapping[Any, Any]], bytes]
) -> AsyncIterator[bytes]:
    """Every stored item in order, rendered, read in keyset pages (constant memory)."""
    after = 0
    while True:
        async with sessions() as session:
            page = (
                (
                    await session.execute(
                        select(PaymentRunItem.__table__)
                        .where(PaymentRunItem.run_id == run_id, PaymentRunItem.seq > after)
                        .order_by(PaymentRunItem.seq)
                        .limit(5000)
                    )
                )
                .mappings()
                .all()
            )
        if not page:
            return
        after = page[-1]["seq"]
        yield b"".join(render(row) for row in page)


async def require_complete(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> None:
    run = await get_run(session, principal, run_id)
    if run.status != "completed":
        raise Conflict(f"the run is {run.status}; poll it until completed", code="run_not_ready")


def to_run_read(run: PaymentRun) -> PaymentRunRead:
    return PaymentRunRead(
        run_id=run.id,
        month=run.month,
        agency_code=run.agency_code,
        generation=run.generation,
        status=run.status,
        decided_on=run.on,
        known_at=run.known_at,
        counts=RunCounts(payable=run.payable, withheld=run.withheld, stopped=run.stopped),
        items=run.items,
        planned_items=run.planned_items,
        attempt=run.attempt,
        heartbeat_at=run.heartbeat_at,
        digest=run.digest,
        created_at=run.created_at,
        completed_at=run.completed_at,
    )
