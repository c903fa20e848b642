"""The streaming read replica of eligibility reads (CERTSVC_READ_DATABASE_URL), and what keeps
a client who has just written reading from the primary (docs/deploy.md, "A read replica").

Read-your-writes, with no state in the API processes: after a write request of a client has
committed, and before its response is sent, the client's own row in ``api_clients`` is bumped
(``UPDATE … SET name = name``: one HOT update in a transaction of its own), which gives the
row a new ``xmin``, the id of the bumping transaction. A read of that client goes to the
replica only when the replica's copy of the row carries the primary's ``xmin``: the replica has
then replayed the bump, hence every transaction committed before it, the client's writes
among them (a physical replica replays WAL in commit order and has the primary's transaction
ids). No migration, no clocks, and a client that has not written lately is not held back by
the others' writes: its row is long replayed.

The lag bound: at most once a second per process, in the background, a probe compares the
replica's replay position with the primary's current WAL position; behind it, the lag is the
time since the replica replayed its last transaction (an upper bound: an idle primary makes
it look late). A replica further behind than CERTSVC_READ_MAX_LAG_SECONDS, not a standby at
all, unreachable, or failing a read, is not read until a later probe finds it well.

Writes never go to the replica: only the eligibility reads ask `read_fresh` for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import SessionMaker, create_engine, create_sessionmaker
from app.db.native import SessionStatements, Statements, unavailable_as_503
from app.db.read_pool import CONNECTION_LOST, ReadPool, create_read_pool
from app.errors import DatabaseUnavailable
from app.settings import Settings

logger = logging.getLogger("certsvc.replica")

T = TypeVar("T")

# A replica that fails a read this way is left for the primary until a later probe: lost
# connections, a server starting or stopping, a query cancelled by a recovery conflict.
REPLICA_FAILED: tuple[type[Exception], ...] = (
    *CONNECTION_LOST,
    asyncpg.PostgresError,
    DBAPIError,
    PoolTimeoutError,
    DatabaseUnavailable,
)

# How often a process probes the replica, and how long a verdict stands without a new one
# (a probe that hangs on a frozen replica must not keep an old "well" alive).
PROBE_SECONDS = 1.0
VERDICT_SECONDS = 3.0

_CLIENT_MARK = "SELECT xmin::text FROM api_clients WHERE id = $1"
_BUMP_CLIENT_MARK = "UPDATE api_clients SET name = name WHERE id = $1"
_PRIMARY_POSITION = "SELECT pg_current_wal_lsn()::text"
# Replayed past the primary's position read just before: no lag at all. Otherwise the time
# since the last replayed transaction committed (NULL: nothing replayed yet).
_REPLICA_STATE = """
SELECT pg_is_in_recovery(),
       coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false),
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
"""


class Replica:
    """The replica's sessions and (unless behind a transaction pooler) bare pool, the
    primary's way in for the marks and the probe, and this process's latest verdict."""

    def __init__(
        self,
        engine: AsyncEngine,
        pool: ReadPool | None,
        primary_sessions: SessionMaker,
        primary_pool: ReadPool | None,
        max_lag_seconds: float,
    ) -> None:
        self.engine = engine
        self.sessions: SessionMaker = create_sessionmaker(engine)
        self.pool = pool
        self.max_lag_seconds = max_lag_seconds
        self._primary_sessions = primary_sessions
        self._primary_pool = primary_pool
        self._well = False
        self._judged_at = -math.inf  # monotonic time of the latest verdict
        self._probe: asyncio.Task[None] | None = None

    @property
    def well(self) -> bool:
        """The latest verdict, if it still stands: reachable, a standby, within the bound."""
        return self._well and time.monotonic() - self._judged_at < VERDICT_SECONDS

    async def may_serve(self, client_id: uuid.UUID) -> bool:
        """May the replica answer this client now: well, and has it replayed the client's
        latest mark? Two primary-key look-ups at once, one on each server."""
        if not await self._judged_well():
            return False
        written, replayed = await asyncio.gather(
            self._written_mark(client_id), self._replayed_mark(client_id)
        )
        return written is not None and replayed == written

    async def _written_mark(self, client_id: uuid.UUID) -> str | None:
        with unavailable_as_503():
            async with _statements(self._primary_pool, self._primary_sessions) as primary:
                rows = await primary.fetch(_CLIENT_MARK, client_id)
        return str(rows[0][0]) if rows else None

    async def _replayed_mark(self, client_id: uuid.UUID) -> str | None:
        try:
            async with _statements(self.pool, self.sessions) as replica:
                rows = await replica.fetch(_CLIENT_MARK, client_id)
        except REPLICA_FAILED as exc:
            self.failed(exc)
            return None
        return str(rows[0][0]) if rows else None

    async def record_write(self, client_id: uuid.UUID) -> None:
        """Bump the client's mark on the primary, after its write committed."""
        with unavailable_as_503():
            async with _statements(self._primary_pool, self._primary_sessions) as primary:
                await primary.fetch(_BUMP_CLIENT_MARK, client_id)

    def failed(self, exc: BaseException) -> None:
        """A read failed on the replica: the primary answers until a later probe."""
        if self._well:
            logger.warning(
                "read replica failed a read: %s; reading the primary", type(exc).__name__
            )
        self._judge(well=False)

    async def refresh(self) -> None:
        """Probe now and judge (the background probe's work; tests call it to be sure)."""
        try:
            well = await self._probe_once()
        except Exception as exc:  # any failure to probe means "not well", never a failed read
            if self._well or self._judged_at == -math.inf:
                logger.warning("read replica unreachable: %s", type(exc).__name__)
            well = False
        self._judge(well=well)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.pool is not None:
            await self.pool.close()
        await self.engine.dispose()

    async def _judged_well(self) -> bool:
        """The verdict, probing again in the background once it is a second old. The first
        verdict of a process is waited for, up to a second (the primary answers meanwhile)."""
        if time.monotonic() - self._judged_at >= PROBE_SECONDS and self._probe is None:
            self._probe = asyncio.create_task(self._probe_in_background())
            if self._judged_at == -math.inf:
                await asyncio.wait({self._probe}, timeout=PROBE_SECONDS)
        return self.well

    async def _probe_in_background(self) -> None:
        try:
            await self.refresh()
        finally:
            self._probe = None

    async def _probe_once(self) -> bool:
        async with asyncio.timeout(PROBE_SECONDS * 2):
            async with _statements(self._primary_pool, self._primary_sessions) as primary:
                position = (await primary.fetch(_PRIMARY_POSITION))[0][0]
            async with _statements(self.pool, self.sessions) as replica:
                state = await replica.fetch(_REPLICA_STATE, position)
        standby, caught_up, since_replay = state[0]
        if not standby:
            if self._well or self._judged_at == -math.inf:
                logger.warning("CERTSVC_READ_DATABASE_URL is not a standby; reading the primary")
            return False
        lag = 0.0 if caught_up else math.inf if since_replay is None else float(since_replay)
        if lag > self.max_lag_seconds and self._well:
            logger.warning("read replica %.1f s behind; reading the primary", lag)
        return lag <= self.max_lag_seconds

    def _judge(self, *, well: bool) -> None:
        if well and not self._well:
            logger.info("read replica in use")
        self._well = well
        self._judged_at = time.monotonic()


async def open_replica(
    settings: Settings, primary_sessions: SessionMaker, primary_pool: ReadPool | None
) -> Replica | None:
    """The replica of CERTSVC_READ_DATABASE_URL (None when unset), with the primary's engine
    settings: behind a transaction pooler the same care, and no bare pool. Nothing connects
    until the first read."""
    url = settings.read_database_url
    if url is None:
        return None
    engine = create_engine(settings.model_copy(update={"database_url": url}))
    pool = await create_read_pool(settings, url)
    return Replica(engine, pool, primary_sessions, primary_pool, settings.read_max_lag_seconds)


async def read_fresh(
    replica: Replica | None,
    client_id: uuid.UUID,
    on_replica: Callable[[Replica], Awaitable[T]],
    on_primary: Callable[[], Awaitable[T]],
) -> T:
    """``on_replica`` when there is a replica that may answer this client, else (or when it
    fails there) ``on_primary``."""
    if replica is not None and await replica.may_serve(client_id):
        try:
            return await on_replica(replica)
        except REPLICA_FAILED as exc:
            replica.failed(exc)
    return await on_primary()


@asynccontextmanager
async def _statements(pool: ReadPool | None, sessions: SessionMaker) -> AsyncIterator[Statements]:
    """Statements through the bare pool, each its own transaction, or (behind a transaction
    pooler) in a session of their own, committed when the block ends."""
    if pool is not None:
        yield pool
        return
    session = sessions()
    try:
        yield SessionStatements(session)
        if session.in_transaction():
            await session.commit()
    finally:
        await session.close()
