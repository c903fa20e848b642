"""The data of payment runs: what a run reads and stores (`run_source`, one implementation per
database), the stored runs themselves (`store`), and the ledger of earlier runs that back pay
is reconciled against (`ledger`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.runs.portable import PortableRunSource
from app.db.runs.postgresql import PostgresRunSource
from app.db.runs.source import RunSource


def run_source(engine: AsyncEngine, *, pooled: bool = False) -> RunSource:
    """PostgreSQL reads through asyncpg on an exported snapshot (and can fan out to other
    processes); any other database through SQLAlchemy Core in one read-only transaction."""
    if engine.dialect.name == "postgresql":
        return PostgresRunSource(engine, pooled=pooled)
    return PortableRunSource(engine)
