"""Payment runs: every benefit of an agency prefix decided for a month and stored unchanged.

A run is decided *as known at* its creation instant (``known_at``): facts recorded later are
invisible to it, so its decisions are those of one point in time although it is computed in
many short transactions (ingest is never blocked behind one giant transaction), and a run
restarted after a crash reproduces the same decisions. The computation runs in the
background of the API process that accepted the request; clients poll the run's status.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import orjson
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth import Principal
from app.db.base import new_id, utcnow
from app.db.engine import SessionMaker
from app.db.filters import in_regions
from app.db.models import Benefit, PaymentRun, PaymentRunItem, Recipient
from app.db.upsert import insert_for
from app.domain.enums import EligibilityStatus, Role
from app.domain.months import Month
from app.domain.policy import PolicyBook
from app.errors import Conflict, NotFound
from app.schemas.payments import PaymentRunCreate, PaymentRunRead, RunCounts
from app.services import audit
from app.services.eligibility import evaluate_recipient
from app.services.facts import load_facts
from app.services.policies import today

logger = logging.getLogger("certsvc.payment_runs")
RECIPIENTS_PER_CHUNK = 2000
STALE_AFTER = timedelta(minutes=5)
ITEM_FIELDS = (
    "seq",
    "benefit_id",
    "recipient_id",
    "external_ref",
    "agency_code",
    "payable",
    "status",
    "reason",
    "back_pay_months",
    "overpaid_months",
    "policy_id",
    "valid_through",
    "last_record_at",
)


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
    async with _one_snapshot(sessions) as snapshot:
        await _decide_all(sessions, policies, run_id, scope, on, known_at, snapshot)


@asynccontextmanager
async def _one_snapshot(sessions: SessionMaker) -> AsyncIterator[str | None]:
    """On PostgreSQL, a snapshot every chunk transaction imports, so the whole run sees one
    database state although it commits chunk by chunk: a certification committing mid-run is
    in every chunk's view or in none. The exporting transaction only reads and takes no locks,
    so ingest is never blocked. SQLite serializes writers, so each chunk already sees a state
    no in-flight writer can change; there the snapshot is None."""
    bind = sessions.kw["bind"]
    if bind.dialect.name != "postgresql":
        yield None
        return
    async with sessions() as holder:
        connection = await holder.connection()
        await connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        snapshot = await connection.scalar(text("SELECT pg_export_snapshot()"))
        try:
            yield str(snapshot)
        finally:
            await holder.rollback()


async def _begin_in(session: AsyncSession, snapshot: str | None) -> None:
    if snapshot is not None:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        # The identifier comes from pg_export_snapshot(), never from a client.
        await session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))


async def _decide_all(
    sessions: SessionMaker,
    policies: PolicyBook,
    run_id: uuid.UUID,
    scope: str,
    on: date,
    known_at: datetime,
    snapshot: str | None,
) -> None:
    digest = hashlib.sha256()
    seq = payable = withheld = stopped = 0
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            await _begin_in(session, snapshot)
            ids = await _next_recipients(session, scope, known_at, after)
            if not ids:
                break
            after = ids[-1]
            recipients = (
                await session.scalars(
                    select(Recipient)
                    .where(Recipient.id.in_(ids))
                    .options(selectinload(Recipient.benefits))
                    .order_by(Recipient.id)
                )
            ).all()
            book = await load_facts(session, ids)
            rows = []
            for recipient in recipients:
                newest = book.newest_record(recipient.id, known_at)
                for benefit, policy, answer in evaluate_recipient(
                    recipient, book, policies, on, known_at
                ):
                    if not benefit.agency_code.startswith(scope):
                        continue
                    seq += 1
                    row = {
                        "run_id": run_id,
                        "seq": seq,
                        "benefit_id": benefit.id,
                        "recipient_id": recipient.id,
                        "external_ref": benefit.external_ref,
                        "agency_code": benefit.agency_code,
                        "payable": answer.payable,
                        "status": answer.status.value,
                        "reason": str(answer.reason),
                        "back_pay_months": [str(m) for m in answer.back_pay_months],
                        "overpaid_months": [str(m) for m in answer.overpaid_months],
                        "policy_id": policy.id,
                        "valid_through": answer.valid_through,
                        "last_record_at": newest,
                    }
                    digest.update(item_line(row))
                    rows.append(row)
                    if answer.payable:
                        payable += 1
                    elif answer.status is EligibilityStatus.STOPPED:
                        stopped += 1
                    else:
                        withheld += 1
            if rows:
                await session.execute(insert_for(session, PaymentRunItem.__table__), rows)
        # Outside the snapshot transaction: under REPEATABLE READ, updating a row another
        # chunk changed after the snapshot would fail with a serialization error.
        async with sessions() as session, session.begin():
            await session.execute(
                update(PaymentRun)
                .where(PaymentRun.id == run_id)
                .values(heartbeat_at=utcnow(), items=seq)
            )
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


async def _next_recipients(
    session: AsyncSession, scope: str, known_at: datetime, after: uuid.UUID | None
) -> list[uuid.UUID]:
    """The next chunk of recipients with a benefit in scope registered by ``known_at``."""
    query = (
        select(Benefit.recipient_id)
        .distinct()
        .where(in_regions(Benefit.agency_code, [scope]), Benefit.created_at <= known_at)
    )
    if after is not None:
        query = query.where(Benefit.recipient_id > after)
    rows = await session.scalars(query.order_by(Benefit.recipient_id).limit(RECIPIENTS_PER_CHUNK))
    return list(rows)


def item_line(row: dict[str, object]) -> bytes:
    """One NDJSON line: the exact bytes served, and hashed into the run's digest."""
    values = {name: row[name] for name in ITEM_FIELDS}
    # Drivers return their own UUID classes; the served text must not depend on the driver.
    values["benefit_id"] = str(values["benefit_id"])
    values["recipient_id"] = str(values["recipient_id"])
    recorded = values["last_record_at"]
    if isinstance(recorded, datetime):
        values["last_record_at"] = recorded.astimezone(UTC)
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z) + b"\n"


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> PaymentRun:
    principal.require(Role.PAYMENT)
    run = await session.get(PaymentRun, run_id)
    if run is None:
        raise NotFound("no such payment run")
    return run


async def stream_items(
    sessions: SessionMaker, run_id: uuid.UUID, render: Callable[[dict[str, object]], bytes]
) -> AsyncIterator[bytes]:
    """Every item in order, read in keyset pages (constant memory on any database)."""
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
        yield b"".join(render(dict(row)) for row in page)


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
