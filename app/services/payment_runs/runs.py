"""Payment runs: every benefit of an agency prefix decided for a month and stored unchanged.

A run is decided *as known at* its creation instant (``known_at``): facts recorded later are
invisible to it, and all its input is read in one consistent state of the database
(`app.db.runs.run_source`), so its decisions are those of one point in time, and a run
restarted after a crash reproduces them. Its items are written in short transactions, a page
at a time (ingest is never blocked behind one giant transaction). The computation runs in the
background of the API process that accepted the request, in a thread, or in a `certsvc worker`
process (queue.py, CERTSVC_RUN_COMPUTE=worker), which alone may spread a big run over decision
processes (workers.py); clients poll the run's status. Each decision is rendered once, as the
NDJSON line that is stored in a page, hashed into the run's digest and served as stored
(compute.py decides; app/db/runs/ reads and writes).

One computation at a time holds a run's claim, and every write it makes is fenced by it
(app/db/runs/claims.py): a run whose process died is taken over by exactly one later request,
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

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.engine import SessionMaker
from app.db.models import PaymentRun
from app.db.runs import claims as run_claims
from app.db.runs import store as run_store
from app.db.runs.claims import RunClaim, RunIncomplete
from app.db.runs.rows import ITEM_FIELDS, Scope
from app.db.runs.source import RunSource
from app.domain.months import Month
from app.domain.policy import PolicyBook
from app.errors import Conflict, NotFound
from app.schemas.payments import PaymentRunCreate, PaymentRunRead, RunCounts
from app.services.accounts import audit
from app.services.eligibility.policies import today
from app.services.payment_runs.compute import RunDecider, render_line
from app.services.payment_runs.workers import WORKERS, SpanResult, WorkerSpec, decide_in_workers
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
# Smaller runs are decided in the computing process itself: starting decision processes
# costs about a second.
POOL_MIN_ITEMS = 50_000


def decision_day(month: Month, now: datetime) -> date:
    """The day a month is decided for: today within the month, else its nearest end."""
    current = today(now)
    return min(max(current, month.first_day), month.last_day)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How runs are computed: the lease a computation holds, the benefits per span, and the
    decision processes a big run may be spread over (PostgreSQL). The API process never starts
    one: it computes in a thread when it computes at all, and `certsvc worker` processes
    (``CERTSVC_RUN_COMPUTE=worker``) may use the machine's cores."""

    lease: timedelta = timedelta(seconds=300)
    span_benefits: int = 10_000
    in_api: bool = True  # computed by the API process that accepted it, not by run workers
    processes: int = 1

    @classmethod
    def of(cls, settings: Settings, *, worker: bool = False) -> RunOptions:
        """The options of the API (``worker`` False) or of a `certsvc worker` process."""
        return cls(
            timedelta(seconds=settings.run_lease_seconds),
            settings.run_span_benefits,
            settings.run_compute is RunCompute.API,
            WORKERS if worker else 1,
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
    workers compute runs (not ``options.in_api``) a stalled run is left to them (queue.py),
    and the claim of a new run is theirs to take."""
    latest = await run_store.latest_run(session, body.month, body.agency_code)
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
    run, recorded = await run_store.record_run(
        session,
        month=body.month,
        agency_code=body.agency_code,
        generation=generation,
        on=decision_day(month, now),
        known_at=now,
        requested_by=principal.client_id,
    )
    if not recorded:  # another request recorded this generation first
        return run, None
    await audit.record(
        session,
        principal.client_id,
        "payment_run.created",
        "payment_run",
        run.id,
        now,
        detail={"month": body.month, "agency_code": body.agency_code, "generation": generation},
    )
    return run, RunClaim(run.id, 1, options.lease.total_seconds())


async def compute_run(
    sessions: SessionMaker,
    source: RunSource,
    policies: PolicyBook,
    claim: RunClaim,
    options: RunOptions,
) -> None:
    """Decide every benefit in scope, storing it span by span, then seal the run: completed
    only once the stored pages prove the whole run (run_claims.seal). Errors mark the attempt
    failed; a computation that lost its claim to a takeover stops without writing."""
    try:
        await _compute(sessions, source, policies, claim, options)
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
    sessions: SessionMaker,
    source: RunSource,
    policies: PolicyBook,
    claim: RunClaim,
    options: RunOptions,
) -> None:
    async with sessions() as session, session.begin():
        run = await run_claims.start(session, claim)
        scope, on = Scope(run.agency_code, run.known_at), run.on
    tally = _Tally(sessions, claim)
    async with source.reading(scope, Month.of(on), options.span_benefits) as reading:
        await tally.planned(reading.planned)
        fan_out = reading.fan_out
        if fan_out is not None and options.processes > 1 and reading.planned >= POOL_MIN_ITEMS:
            spec = WorkerSpec.of(fan_out, claim, policies, on, scope.known_at)
            await decide_in_workers(spec, fan_out.spans, tally.stored, options.processes)
        else:
            decider = RunDecider(
                claim.run_id, policies, on, scope.known_at, reading.moratoria, reading.prior.stored
            )
            async for page in reading.pages():
                # Off the event loop: the process goes on answering (or beating) meanwhile.
                decided = await asyncio.to_thread(decider.decide, page.chunk, page.first_seq)
                if len(decided.records) != page.items:  # one snapshot makes this impossible
                    raise RuntimeError(f"page {page.page}: {len(decided.records)} of {page.items}")
                body = b"".join(decided.lines)
                await reading.store(claim, page, body, decided.records)
                await tally.stored(
                    SpanResult(page.page, body, decided.payable, decided.withheld, decided.stopped)
                )
    async with sessions() as session, session.begin():
        await run_claims.seal(session, claim, tally.digest.hexdigest())


class _Tally:
    """The run so far: its pages' digest, in order, and the items stored; beats the
    heartbeat, which fails (ClaimLost) once another computation took the run over."""

    def __init__(self, sessions: SessionMaker, claim: RunClaim) -> None:
        self.sessions = sessions
        self.claim = claim
        self.digest = hashlib.sha256()
        self.items = 0

    async def planned(self, items: int) -> None:
        """The benefits the run's snapshot holds in scope: what the seal will demand."""
        await self.beat(planned=items)

    async def stored(self, span: SpanResult) -> None:
        """A span is stored: count it and beat (spans arrive in order)."""
        self.digest.update(span.body)
        self.items += span.payable + span.withheld + span.stopped
        await self.beat()

    async def beat(self, planned: int | None = None) -> None:
        # Never inside a reading transaction: under its snapshot the run's row could not be
        # updated (REPEATABLE READ), and it would hold a writer's lock on SQLite.
        async with self.sessions() as session, session.begin():
            await run_claims.fence(session, self.claim, items=self.items, planned=planned)


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
            found = await run_store.page_after(session, run_id, after)
        if found is None:
            break
        after, body = found
        yield body
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
            page = await run_store.items_after(session, run_id, after, 5000)
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
