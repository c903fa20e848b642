"""Payment runs: every benefit of an agency prefix decided for a month and stored unchanged.

A run is decided *as known at* its creation instant (``known_at``): facts recorded later are
invisible to it, and all its input is read in one read-only snapshot, so its decisions are
those of one point in time, and a run restarted after a crash reproduces them. Its items are
written in short transactions, a chunk at a time (ingest is never blocked behind one giant
transaction). The computation runs in the background of the API process that accepted the
request; clients poll the run's status. Each decision is rendered once, as the NDJSON line
that is stored in a page, hashed into the run's digest and served as stored
(run_compute.py decides, run_store.py reads and writes).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.base import new_id, utcnow
from app.db.engine import SessionMaker
from app.db.models import PaymentRun, PaymentRunItem, PaymentRunPage
from app.db.upsert import insert_for
from app.domain.enums import Role
from app.domain.months import Month
from app.domain.policy import PolicyBook
from app.errors import Conflict, NotFound
from app.schemas.payments import PaymentRunCreate, PaymentRunRead, RunCounts
from app.services import audit
from app.services.policies import today
from app.services.run_compute import ITEM_FIELDS, Chunk, RunDecider, render_line
from app.services.run_store import reading, write_page

__all__ = ["ITEM_FIELDS", "compute_run", "create_run", "get_run", "stream_items", "stream_lines"]

logger = logging.getLogger("certsvc.payment_runs")
STALE_AFTER = timedelta(minutes=5)


def decision_day(month: Month, now: datetime) -> date:
    """The day a month is decided for: today within the month, else its nearest end."""
    current = today(now)
    return min(max(current, month.first_day), month.last_day)


async def create_run(
    session: AsyncSession, principal: Principal, body: PaymentRunCreate, now: datetime
) -> tuple[PaymentRun, bool]:
    """The existing run for the month and agency, unless ``new`` asks for another; a run
    whose computation stopped (its process died) is started over."""
    principal.require(Role.PAYMENT)
    latest = await session.scalar(
        select(PaymentRun)
        .where(PaymentRun.month == body.month, PaymentRun.agency_code == body.agency_code)
        .order_by(PaymentRun.generation.desc())
        .limit(1)
    )
    if latest is not None and not body.new:
        stalled = latest.status in ("pending", "running") and (
            (latest.heartbeat_at or latest.created_at) < now - STALE_AFTER
        )
        if stalled or latest.status == "failed":
            await session.execute(delete(PaymentRunItem).where(PaymentRunItem.run_id == latest.id))
            await session.execute(delete(PaymentRunPage).where(PaymentRunPage.run_id == latest.id))
            latest.status, latest.heartbeat_at, latest.error = "pending", now, None
            await session.flush()
            return latest, True
        return latest, False
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
            heartbeat_at=now,
            items=0,
            payable=0,
            withheld=0,
            stopped=0,
        )
        .on_conflict_do_nothing()
        .returning(PaymentRun.id)
    )
    if run_id is not None:
        await audit.record(
            session,
            principal.client_id,
            "payment_run.created",
            "payment_run",
            run_id,
            now,
            detail={"month": body.month, "agency_code": body.agency_code, "generation": generation},
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
        return raced, False
    return await session.get_one(PaymentRun, run_id), True


async def compute_run(sessions: SessionMaker, policies: PolicyBook, run_id: uuid.UUID) -> None:
    """Decide every benefit in scope, a chunk of recipients per transaction, then seal the run
    with its digest. Errors mark the run failed (a new request restarts it)."""
    try:
        await _compute(sessions, policies, run_id)
    except Exception as exc:
        logger.exception("payment run failed", extra={"run_id": str(run_id)})
        async with sessions() as session, session.begin():
            await session.execute(
                update(PaymentRun)
                .where(PaymentRun.id == run_id)
                .values(status="failed", error=type(exc).__name__)
            )


async def _compute(sessions: SessionMaker, policies: PolicyBook, run_id: uuid.UUID) -> None:
    async with sessions() as session, session.begin():
        run = await session.get_one(PaymentRun, run_id)
        run.status = "running"
        scope, on, known_at = run.agency_code, run.on, run.known_at
    digest = hashlib.sha256()
    seq = page = payable = withheld = stopped = 0
    writing: asyncio.Task[None] | None = None
    try:
        async with reading(sessions.kw["bind"], scope, known_at) as reader:
            decider = RunDecider(run_id, policies, on, known_at, reader.moratoria)
            async for chunk in _read_ahead(reader.chunks()):
                # In a thread, so that the API goes on answering while a chunk is decided.
                decided = await asyncio.to_thread(decider.decide, chunk, seq + 1)
                body = b"".join(decided.lines)
                digest.update(body)
                if writing is not None:
                    await writing
                page += 1
                # Written while the next chunk is read and decided.
                writing = asyncio.create_task(
                    write_page(sessions, run_id, page, seq + 1, body, decided.records)
                )
                seq += len(decided.lines)
                payable += decided.payable
                withheld += decided.withheld
                stopped += decided.stopped
            if writing is not None:
                await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            with suppress(asyncio.CancelledError):
                await writing
    async with sessions() as session, session.begin():
        await session.execute(
            update(PaymentRun)
            .where(PaymentRun.id == run_id)
            .values(
                status="completed",
                items=seq,
                payable=payable,
                withheld=withheld,
                stopped=stopped,
                digest=digest.hexdigest(),
                completed_at=utcnow(),
            )
        )


async def _read_ahead(chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    """The chunks, the next one read while the caller works on the current one."""
    ahead: asyncio.Future[Chunk | None] = asyncio.ensure_future(anext(chunks, None))
    try:
        while (chunk := await ahead) is not None:
            ahead = asyncio.ensure_future(anext(chunks, None))
            yield chunk
    finally:
        if not ahead.done():
            ahead.cancel()
            with suppress(asyncio.CancelledError):
                await ahead


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
    principal.require(Role.PAYMENT)
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
        digest=run.digest,
        created_at=run.created_at,
        completed_at=run.completed_at,
    )
