"""A bare asyncpg pool for the hot paths on PostgreSQL: point eligibility's one-statement
read, and ingest's common-case write transaction (app/db/native.py).

A read that is one statement needs no transaction, no ORM and no pre-ping: through the
engine's pool a checkout pings first (BEGIN, a query, ROLLBACK: three round trips), which
costs more than the read itself. Its size is CERTSVC_DB_POOL_SIZE, shared by both uses.
Built in the lifespan, like the engine; nothing connects until the first read. A connection
that died with the server is dropped by asyncpg at its next checkout; a read that meets a
dead or unreachable database raises one of CONNECTION_LOST.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.settings import Settings

# The database is gone or going (SQLSTATE 08, 57P), the connection was closed under us, or
# the pool or the server did not answer in time.
CONNECTION_LOST: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """Only plain SELECTs run on this pool: no session state, locks or listeners to reset, so
    a connection goes back without asyncpg's RESET ALL round trip (open transactions are still
    rolled back by asyncpg itself)."""


@dataclass(frozen=True)
class ReadPool:
    pool: asyncpg.Pool
    # Waiting longer for a free connection answers 503, as the engine's pool_timeout does.
    acquire_timeout: float

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        # asyncio.timeout rather than acquire(timeout=…), whose wait_for starts a task for
        # every checkout.
        async with asyncio.timeout(self.acquire_timeout):
            connection = await self.pool.acquire()
        try:
            row: asyncpg.Record | None = await connection.fetchrow(query, *args)
        except CONNECTION_LOST:
            # Releasing a connection whose statement timed out (a frozen server) would wait out
            # asyncpg's cancellation, one more statement timeout: close it at once instead.
            connection.terminate()
            raise
        finally:
            await self.pool.release(connection)
        return row

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """All rows of ``query``, as `fetchrow` reads one (so a pool is `native.Statements`)."""
        async with asyncio.timeout(self.acquire_timeout):
            connection = await self.pool.acquire()
        try:
            rows: list[asyncpg.Record] = await connection.fetch(query, *args)
        except CONNECTION_LOST:
            connection.terminate()
            raise
        finally:
            await self.pool.release(connection)
        return rows

    async def close(self) -> None:
        await self.pool.close()


async def create_read_pool(settings: Settings, database_url: str | None = None) -> ReadPool | None:
    """The pool on PostgreSQL (None on SQLite): as many connections as the engine's base pool,
    with the engine's timeouts. None behind a transaction-mode pooler too: there the pooler
    pools, and a request that holds a transaction while it reads through a second connection
    could wait for a server connection that the requests it waits behind hold (reads go
    through the request's own connection instead). ``database_url``: another server than
    the settings' (the read replica, app/db/replica.py)."""
    if settings.is_sqlite or settings.db_transaction_pooler:
        return None
    url = make_url(database_url or settings.database_url).set(drivername="postgresql")
    pool = await asyncpg.create_pool(
        url.render_as_string(hide_password=False),
        min_size=0,
        max_size=settings.db_pool_size,
        timeout=settings.db_connect_timeout_seconds,
        command_timeout=settings.db_statement_timeout_seconds,
        server_settings={"application_name": "certsvc"},
        reset=_no_reset,
    )
    return ReadPool(pool, settings.db_connect_timeout_seconds)
