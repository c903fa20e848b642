"""What keeps two human decisions on one person from racing (issue 15).

Every decision that moves a benefit (a case resolution, a confirmed stop report, a resumption
step, a home-visit outcome) first takes `lock_recipient`, then re-reads what it decides on,
inside the request's one transaction. The recipient is the serialisation point because
decisions on one person interact (a death report and a case confirmed eligible), while
decisions on different people never wait for each other.

On PostgreSQL the lock is ``SELECT … FOR NO KEY UPDATE`` on the recipient's row, held until
the request commits or rolls back. NO KEY UPDATE rather than UPDATE: inserts that reference
the recipient (certifications, audit entries) take KEY SHARE on it and need not wait. On
SQLite every writing transaction begins IMMEDIATE (app.db.engine), so writers are already
serialised and SQLAlchemy renders no FOR clause there. Where a decision also settles a row
(a case), the write is a compare-and-set on its status as well, so that it holds even for a
writer that never took the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import SessionMaker
from app.db.models import Recipient, ResumptionStep, StopReport, VerificationCase
from app.domain.enums import ResumptionMode


async def advisory_xact_lock(session: AsyncSession, *keys: int) -> None:
    """Wait for, then hold until the transaction ends, PostgreSQL's advisory lock on ``keys``
    (one bigint, or two ints, e.g. a purpose and a year); whoever takes several takes them in
    one order everywhere. Nothing on SQLite, whose writers are serialised already (every
    writing transaction begins IMMEDIATE, app.db.engine)."""
    if not 1 <= len(keys) <= 2:
        raise ValueError("an advisory lock has one key or two")
    if session.get_bind().dialect.name != "postgresql":
        return
    names = [f"k{index}" for index in range(len(keys))]
    await session.execute(
        text(f"SELECT pg_advisory_xact_lock({', '.join(':' + name for name in names)})"),
        dict(zip(names, keys, strict=True)),
    )


# The locks held by this process on SQLite, whose one process is the whole deployment.
_held_here: set[tuple[str, tuple[int, ...]]] = set()


@asynccontextmanager
async def held_advisory_lock(sessions: SessionMaker, *keys: int) -> AsyncIterator[bool]:
    """Try, without waiting, to take PostgreSQL's advisory lock on ``keys`` and hold it for
    the block; yields False (holding nothing) when another session holds it. A transaction of
    its own holds it, on a connection of its own, so that it works through a transaction-mode
    pooler too, and it ends with that connection: a process that dies mid-way frees it. On
    SQLite, served by one process, the lock is this process's."""
    if not 1 <= len(keys) <= 2:
        raise ValueError("an advisory lock has one key or two")
    async with sessions() as session:
        bind = session.get_bind()
        if bind.dialect.name != "postgresql":
            mine = (str(bind.engine.url), keys)
            if mine in _held_here:
                yield False
                return
            _held_here.add(mine)
            try:
                yield True
            finally:
                _held_here.discard(mine)
            return
        names = [f"k{index}" for index in range(len(keys))]
        # Left open while the block runs; closing the session rolls it back, freeing the lock.
        taken = await session.scalar(
            text(f"SELECT pg_try_advisory_xact_lock({', '.join(':' + name for name in names)})"),
            dict(zip(names, keys, strict=True)),
        )
        yield bool(taken)


async def lock_recipient(session: AsyncSession, recipient_id: uuid.UUID) -> None:
    """Wait for, then hold until the transaction ends, the right to decide on this person."""
    await session.execute(
        select(Recipient.id).where(Recipient.id == recipient_id).with_for_update(key_share=True)
    )


async def settle_open_case(
    session: AsyncSession, case_id: uuid.UUID, values: Mapping[str, object]
) -> bool:
    """Resolve the case if it is still open (compare-and-set on its status); False when another
    resolution got there first. Of two racing UPDATEs PostgreSQL re-checks the condition on the
    row the first one committed, so only one of them matches."""
    settled = await session.scalar(
        update(VerificationCase)
        .where(VerificationCase.id == case_id, VerificationCase.status == "open")
        .values(status="resolved", **values)
        .returning(VerificationCase.id)
        .execution_options(synchronize_session=False)
    )
    return settled is not None


async def case_as_stored(session: AsyncSession, case_id: uuid.UUID) -> VerificationCase:
    """The case as committed now, replacing what the session had loaded before the lock."""
    return await session.get_one(VerificationCase, case_id, populate_existing=True)


async def confirmed_stop_reports(
    session: AsyncSession, recipient_id: uuid.UUID
) -> list[StopReport]:
    """The recipient's confirmed (not suspected) stop reports, oldest first."""
    return list(
        await session.scalars(
            select(StopReport)
            .where(StopReport.recipient_id == recipient_id, StopReport.suspected.is_(False))
            .order_by(StopReport.recorded_at, StopReport.id)
        )
    )


async def newest_step(
    session: AsyncSession, recipient_id: uuid.UUID, kind: ResumptionMode
) -> ResumptionStep | None:
    """The recipient's most recently recorded resumption step of this kind."""
    return await session.scalar(
        select(ResumptionStep)
        .where(ResumptionStep.recipient_id == recipient_id, ResumptionStep.kind == kind)
        .order_by(ResumptionStep.recorded_at.desc(), ResumptionStep.id.desc())
        .limit(1)
    )


def digest_lock_key(digest: bytes) -> int:
    """The advisory lock key of a digest: its first 8 bytes, as a signed 64-bit integer."""
    return int.from_bytes(digest[:8], "big", signed=True)
