"""Statements straight on asyncpg, for the few PostgreSQL fast paths (certification ingest).

SQLAlchemy costs about 0.1 ms of CPU per statement on top of asyncpg's 0.05 ms, and a session's
connection costs a pre-ping (three round trips) at checkout and a commit through the ORM; on
the ingest path, a handful of statements per request and arrays of a thousand rows per batch,
that was most of the time. A fast path names where its statements run with a `Db`: the
request's session (always, for the ORM paths and SQLite) and, on PostgreSQL, `statements`:
either the session's own asyncpg connection inside the session's transaction, or a connection
of the bare pool (app/db/read_pool.py) inside a transaction of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.read_pool import CONNECTION_LOST, ReadPool
from app.errors import DatabaseUnavailable

_KEY = "certsvc.native"


class Statements(Protocol):
    async def fetch(self, query: str, *args: Any) -> Sequence[Sequence[Any]]:
        """Run ``query`` ($1, $2, … parameters); its rows, indexed by position."""
        ...


@dataclass(frozen=True)
class Db:
    """Where a fast path's statements run: ``statements`` on PostgreSQL, else (None) the
    session's SQLAlchemy path."""

    session: AsyncSession
    statements: Statements | None

    @classmethod
    def of(cls, session: AsyncSession) -> Db:
        """The session alone: on PostgreSQL its own connection, inside its transaction."""
        postgresql = session.get_bind().dialect.name == "postgresql"
        return cls(session, SessionStatements(session) if postgresql else None)


@dataclass(frozen=True)
class SessionStatements:
    """Statements on the session's asyncpg connection, inside the session's transaction.

    SQLAlchemy's asyncpg adapter begins a transaction lazily, with the first statement it runs.
    Until one has run, a statement goes through SQLAlchemy (which then begins it); after that,
    straight to asyncpg. So nothing here is ever committed on its own."""

    session: AsyncSession

    async def fetch(self, query: str, *args: Any) -> Sequence[Sequence[Any]]:
        connection, driver = await self._connection()
        if not driver.is_in_transaction():
            result = await connection.exec_driver_sql(query, args)
            return result.all() if result.returns_rows else []
        with unavailable_as_503():
            rows: Sequence[Sequence[Any]] = await driver.fetch(query, *args)
            return rows

    async def _connection(self) -> tuple[AsyncConnection, Any]:
        """The session's connection and its asyncpg connection, looked up once per
        transaction."""
        session = self.session
        transaction = session.sync_session.get_transaction()
        cached = session.info.get(_KEY)
        if cached is not None and transaction is not None and cached[0] is transaction:
            return cached[1], cached[2]
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        session.info[_KEY] = (session.sync_session.get_transaction(), connection, driver)
        return connection, driver


@dataclass(frozen=True)
class PooledStatements:
    connection: asyncpg.Connection

    async def fetch(self, query: str, *args: Any) -> Sequence[Sequence[Any]]:
        with unavailable_as_503():
            rows: Sequence[Sequence[Any]] = await self.connection.fetch(query, *args)
            return rows


def pool_for(session: AsyncSession, pool: ReadPool | None) -> ReadPool | None:
    """The bare pool, unless the session is bound to one connection (tests run each inside a
    transaction of theirs, which a pooled connection would not see)."""
    return None if isinstance(session.bind, AsyncConnection) else pool


@asynccontextmanager
async def pooled_transaction(pool: ReadPool) -> AsyncIterator[PooledStatements]:
    """A connection of the bare pool, in a transaction committed when the block ends (rolled
    back if it raises): no pre-ping, no ORM. Only for statements that leave no session state."""
    with unavailable_as_503():
        async with (
            pool.pool.acquire(timeout=pool.acquire_timeout) as connection,
            connection.transaction(),
        ):
            yield PooledStatements(connection)


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    """A database that cannot answer (a lost connection, a shutdown, no free connection in
    time) as the 503 that the engine's failures become (app/errors.py)."""
    try:
        yield
    except CONNECTION_LOST as exc:
        raise DatabaseUnavailable(
            "The database cannot be reached; try again shortly.", headers={"Retry-After": "5"}
        ) from exc
