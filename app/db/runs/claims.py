"""Who computes a payment run, and the fence on everything that computation writes.

One process at a time computes a run. It holds a *claim*: the run's id and its ``attempt``.
Every write of the computation (starting, each page, each heartbeat, the seal, a failure) is
conditional on the attempt still being the run's and the run still computing, and it takes the
run's row lock before anything else, so a takeover (which raises the attempt and removes the
stored pages, in one transaction) and a stale computation's last write can never interleave: a
computation that lost its claim writes nothing more and stops (`ClaimLost`).

Leases: a computing run beats its heartbeat at every stored page; one whose heartbeat is older
than the lease may be taken over by any process (`take_over`). Heartbeats and leases use the
processes' clocks (UTC), which must agree to well within a lease (NTP). ``completed`` and
``failed`` are final: nothing here moves a run out of them. A process frozen inside a fenced
write holds the run's row lock. On PostgreSQL a transaction left idle for a lease is ended by
the server (``idle_in_transaction_session_timeout``), but a COPY waiting for rows that never
come is not: ``statement_timeout`` is only checked when the client sends again. So every fenced
write names its session after its claim (``application_name``), and a takeover that finds the
row lock held for longer than `TAKEOVER_LOCK_WAIT` by a computation whose lease ran out ends
that computation's sessions (``pg_terminate_backend``: the service's database role may signal
its own sessions) and tries once more; when it may not, or the lock is still held, it leaves the
run as it is.

The seal (`seal`) proves, in the transaction that sets ``completed``, that the stored pages are
numbered 1…n without a gap, that their items run 1…N in order with N the benefits the run's
snapshot held in scope, that the typed item rows number N too, and that the SHA-256 of the
stored pages is the digest the computation hashed as it went; the counts are read from the
stored rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy import ColumnElement, Update, and_, case, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import PaymentRun, PaymentRunItem, PaymentRunPage

COMPUTING = ("pending", "running")
TAKEOVER_LOCK_WAIT = "1s"
_LOCK_NOT_AVAILABLE = "55P03"
# Who holds a claim, for operators reading a run's row: this host and process.
CLAIMANT = f"{socket.gethostname()[:100]}:{os.getpid()}"
logger = logging.getLogger(__name__)


class ClaimLost(Exception):
    """The run was taken over (or finished) by another computation: stop, write nothing."""


class RunIncomplete(Exception):
    """The stored pages do not prove the whole run: it must not be served as complete."""


@dataclass(frozen=True, slots=True)
class RunClaim:
    """The right to compute one attempt of one run."""

    run_id: uuid.UUID
    attempt: int
    lease_seconds: float = 300.0

    @property
    def session_name(self) -> str:
        """What a fenced write's session is called while it writes (``application_name``),
        so that a takeover can find the sessions of a computation that lost its lease."""
        return session_name(self.run_id, self.attempt)

    @property
    def bounds(self) -> tuple[str, str, str]:
        """The statements that open a fenced write transaction on PostgreSQL: left idle, or in
        one statement, for a lease it is ended by the server, and it carries the claim's name."""
        limit = f"{max(1, int(self.lease_seconds * 1000))}ms"
        return (
            f"SET LOCAL idle_in_transaction_session_timeout = '{limit}'",
            f"SET LOCAL statement_timeout = '{limit}'",
            f"SET LOCAL application_name = '{self.session_name}'",
        )


def session_name(run_id: uuid.UUID, attempt: int) -> str:
    return f"certsvc-run {run_id} {attempt}"


def is_stale(heartbeat_at: datetime | None, lease: timedelta, now: datetime | None = None) -> bool:
    return heartbeat_at is None or heartbeat_at < (now or utcnow()) - lease


async def take_over(session: AsyncSession, run: PaymentRun, lease: timedelta) -> RunClaim | None:
    """Claim a computing run whose lease ran out, as seen in ``run``: raise its attempt and
    remove what earlier attempts stored, in the caller's transaction. None when another process
    took it over first, or it beat, finished or failed since it was read, or a frozen process
    still holds the run's row lock."""
    now = utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    takeover = (
        update(PaymentRun)
        .where(
            PaymentRun.id == run.id,
            PaymentRun.attempt == run.attempt,
            PaymentRun.status.in_(COMPUTING),
            (PaymentRun.heartbeat_at.is_(None)) | (PaymentRun.heartbeat_at < now - lease),
        )
        .values(
            attempt=PaymentRun.attempt + 1,
            status="pending",
            heartbeat_at=now,
            items=0,
            planned_items=None,
            claimed_by=None,
            error=None,
        )
        .returning(PaymentRun.attempt)
        .execution_options(synchronize_session=False)
    )
    if not postgres:
        attempt = await session.scalar(takeover)
    else:
        try:
            attempt = await _update_waiting_briefly(session, takeover)
        except _LockHeld:
            if not await _end_sessions(session, session_name(run.id, run.attempt)):
                return None
            try:
                attempt = await _update_waiting_briefly(session, takeover)
            except _LockHeld:
                return None
    if attempt is None:
        return None
    await session.execute(delete(PaymentRunItem).where(PaymentRunItem.run_id == run.id))
    await session.execute(delete(PaymentRunPage).where(PaymentRunPage.run_id == run.id))
    return RunClaim(run.id, attempt, lease.total_seconds())


class _LockHeld(Exception):
    """Another session held the run's row lock for longer than TAKEOVER_LOCK_WAIT."""


async def _update_waiting_briefly(session: AsyncSession, takeover: Update) -> int | None:
    try:
        async with session.begin_nested():
            await session.execute(text(f"SET LOCAL lock_timeout = '{TAKEOVER_LOCK_WAIT}'"))
            attempt: int | None = await session.scalar(takeover)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        raise _LockHeld from None
    finally:
        await session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    return attempt


async def _end_sessions(session: AsyncSession, name: str) -> bool:
    """Terminate this database's sessions called ``name`` (a stale computation's writes),
    waiting for each to end; False when there were none or the role may not signal them."""
    try:
        async with session.begin_nested():
            ended = await session.scalars(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = :name"
                    " AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            results = list(ended)
    except DBAPIError:
        logger.warning("a stale payment run's sessions could not be ended", exc_info=True)
        return False
    if results:
        logger.warning(
            "ended the sessions of a payment run computation whose lease ran out",
            extra={"session": name, "ended": sum(results)},
        )
    return any(results)


def _claimed(claim: RunClaim, *conditions: ColumnElement[bool]) -> Update:
    """An UPDATE of the claimed run's row, applying only while the run is still at the
    claim's attempt and meets ``conditions``."""
    return (
        update(PaymentRun)
        .where(PaymentRun.id == claim.run_id, PaymentRun.attempt == claim.attempt, *conditions)
        .execution_options(synchronize_session=False)
    )


async def reserve(session: AsyncSession, claim: RunClaim) -> bool:
    """Take a pending run that nobody computes yet for this process (a `certsvc worker`), in
    the caller's transaction; False when another process reserved or started it first."""
    reserved = await session.execute(
        _claimed(claim, PaymentRun.status == "pending", PaymentRun.claimed_by.is_(None)).values(
            claimed_by=CLAIMANT, heartbeat_at=utcnow()
        )
    )
    return bool(reserved.rowcount == 1)  # type: ignore[attr-defined]


async def start(session: AsyncSession, claim: RunClaim) -> PaymentRun:
    """Move the claimed run from pending to running, naming this process."""
    started: PaymentRun | None = await session.scalar(
        _claimed(claim, PaymentRun.status == "pending")
        .values(status="running", heartbeat_at=utcnow(), claimed_by=CLAIMANT)
        .returning(PaymentRun)
    )
    if started is None:
        raise ClaimLost
    return started


async def fence(
    session: AsyncSession, claim: RunClaim, *, items: int | None = None, planned: int | None = None
) -> None:
    """Beat the heartbeat if the claim still holds, locking the run's row until the caller's
    transaction ends; raise ClaimLost otherwise. First statement of every write transaction."""
    if session.get_bind().dialect.name == "postgresql":
        for statement in claim.bounds:
            await session.execute(text(statement))
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if items is not None:
        values["items"] = items
    if planned is not None:
        values["planned_items"] = planned
    held = await session.execute(_claimed(claim, PaymentRun.status == "running").values(values))
    if held.rowcount != 1:  # type: ignore[attr-defined]
        raise ClaimLost


# The same fence for the asyncpg connections that store spans on PostgreSQL.
_FENCE = """
UPDATE payment_runs SET heartbeat_at = $3
WHERE id = $1 AND attempt = $2 AND status = 'running'
"""


async def fence_raw(connection: asyncpg.Connection, claim: RunClaim) -> None:
    """`fence` on a bare asyncpg connection, inside its transaction."""
    for statement in claim.bounds:
        await connection.execute(statement)
    if await connection.execute(_FENCE, claim.run_id, claim.attempt, utcnow()) != "UPDATE 1":
        raise ClaimLost


# Counted as stopped in a run's counts (run_compute.RunDecider counts the same way).
_stopped = and_(PaymentRunItem.payable.is_(False), PaymentRunItem.status == "stopped")


async def seal(session: AsyncSession, claim: RunClaim, digest: str) -> PaymentRun:
    """Prove the stored run whole and mark it completed, in the caller's transaction (module
    docstring); RunIncomplete when the proof fails, ClaimLost when the claim no longer holds."""
    run = await session.scalar(
        select(PaymentRun)
        .where(PaymentRun.id == claim.run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if run is None or run.attempt != claim.attempt or run.status != "running":
        raise ClaimLost
    if run.planned_items is None:
        raise RunIncomplete("the run's plan was never recorded")
    hashed, next_seq, expected_page = hashlib.sha256(), 1, 1
    pages = await session.stream(
        select(
            PaymentRunPage.page, PaymentRunPage.first_seq, PaymentRunPage.items, PaymentRunPage.body
        )
        .where(PaymentRunPage.run_id == claim.run_id)
        .order_by(PaymentRunPage.page)
        .execution_options(yield_per=4)
    )
    async for page, first_seq, items, body in pages:
        if page != expected_page or first_seq != next_seq or body.count(b"\n") != items:
            raise RunIncomplete(f"page {page} does not follow page {expected_page - 1}")
        hashed.update(body)
        next_seq += items
        expected_page += 1
    stored = next_seq - 1
    if stored != run.planned_items:
        raise RunIncomplete(f"{stored} of {run.planned_items} items stored")
    if hashed.hexdigest() != digest:
        raise RunIncomplete("the stored pages do not hash to the computed digest")
    counted = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((PaymentRunItem.payable, 1), else_=0)), 0),
                func.coalesce(func.sum(case((_stopped, 1), else_=0)), 0),
            ).where(PaymentRunItem.run_id == claim.run_id)
        )
    ).one()
    rows, payable, stopped = (int(value) for value in counted)
    if rows != stored:
        raise RunIncomplete(f"{rows} item rows for {stored} served items")
    run.status, run.digest, run.items = "completed", digest, stored
    run.payable, run.stopped, run.withheld = payable, stopped, stored - payable - stopped
    run.completed_at = run.heartbeat_at = utcnow()
    await session.flush()
    return run


async def fail(session: AsyncSession, claim: RunClaim, error: str) -> bool:
    """Mark the claimed attempt failed (final); False when the claim no longer holds."""
    failed = await session.execute(
        _claimed(claim, PaymentRun.status.in_(COMPUTING)).values(
            status="failed", error=error[:500], heartbeat_at=utcnow()
        )
    )
    return bool(failed.rowcount == 1)  # type: ignore[attr-defined]
