"""Engine and session factory. Built in the app's lifespan (or a CLI command), never at import."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings

SessionMaker = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    if settings.is_sqlite:
        return _sqlite_engine(settings.database_url, **overrides)
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_seconds,
        "server_settings": {"application_name": "certsvc"},
    }
    if settings.db_transaction_pooler:
        # Behind PgBouncer in transaction mode each transaction may run on another server
        # connection: SQLAlchemy's statement cache would find names that are not there, and
        # asyncpg's numbered names would collide with another client's ("__asyncpg_stmt_1__
        # already exists"). Prepare afresh, under a name no other client uses.
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
    options: dict[str, Any] = {
        # Bound values never reach logs or error text, whatever they hold.
        "hide_parameters": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_timeout": settings.db_connect_timeout_seconds,
        # After a database restart, stale pooled connections are replaced instead of failing.
        "pool_pre_ping": True,
        "connect_args": connect_args,
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)

    @event.listens_for(engine.sync_engine, "invalidate")
    def _abort_at_once(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
        # SQLAlchemy closes an invalidated asyncpg connection gracefully first, waiting up to
        # 2 s for a server that may be frozen; abort it instead, so that a request meeting a
        # frozen database gives up within the statement timeout.
        dbapi_connection.driver_connection.terminate()

    return engine


def _unique_statement_name() -> str:
    return f"__certsvc_{uuid.uuid4().hex}__"


def ensure_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder (the data folder on a fresh machine)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, **overrides: Any) -> AsyncEngine:
    ensure_sqlite_folder(url)
    engine = create_async_engine(url, hide_parameters=True, **overrides)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module, so that BEGIN, SAVEPOINT and
        # transactional DDL behave as SQLAlchemy expects (see the SQLAlchemy SQLite docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of
        # one failing with "database is locked" when it upgrades a read lock. Connections
        # marked read_only (readiness probes) take no lock.
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def read_only_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session on a connection of its own, read-only, closed afterwards: for what /readyz
    and /metrics read beside the requests' transactions."""
    async with engine.connect() as connection:
        await connection.execution_options(read_only=True)
        async with AsyncSession(bind=connection) as session:
            yield session
