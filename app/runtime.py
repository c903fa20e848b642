"""The composition root: what the API, the CLI and the workers run on, built in one place.

`Runtime.open` builds, from the settings, the database engine and its sessionmaker, the loaded
policies, the ID-number key ring, the payment runs' data source for the database (the one
dialect choice, `app.db.runs.run_source`) and (PostgreSQL, for the API) the read pool, and
disposes of what it opened when the block ends. The API's lifespan serves requests from one;
every CLI command runs its unit of work in one (`app/cli/runner.py` `run_with`). Nothing else
creates an engine for the service's own work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import SessionMaker, create_engine, create_sessionmaker
from app.db.read_pool import ReadPool, create_read_pool
from app.db.replica import Replica, open_replica
from app.db.runs import run_source
from app.db.runs.source import RunSource
from app.domain.policy import PolicyBook, load_policies
from app.protection import IdProtector, load_id_protector
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionMaker
    protector: IdProtector
    policies: PolicyBook
    read_pool: ReadPool | None  # PostgreSQL, when asked for: hot single-statement reads
    runs: RunSource  # how payment runs read and store, for this engine's database
    replica: Replica | None  # CERTSVC_READ_DATABASE_URL, for the API: eligibility reads

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        policies: PolicyBook | None = None,
        protector: IdProtector | None = None,
        read_pool: bool = False,
    ) -> AsyncIterator[Runtime]:
        """The runtime for ``settings``; an ``engine`` passed in stays open afterwards (tests
        share one across apps), one made here is disposed of. ``read_pool``: the API's read
        paths, the bare pool and the read replica when one is set."""
        own_engine = engine is None
        active = engine or create_engine(settings)
        sessions = create_sessionmaker(active)
        pool = await create_read_pool(settings) if read_pool else None
        replica = await open_replica(settings, sessions, pool) if read_pool else None
        try:
            yield cls(
                settings=settings,
                engine=active,
                sessions=sessions,
                protector=protector or load_id_protector(settings),
                policies=policies or load_policies(),
                read_pool=pool,
                runs=run_source(active, pooled=settings.db_transaction_pooler),
                replica=replica,
            )
        finally:
            if replica is not None:
                await replica.close()
            if pool is not None:
                await pool.close()
            if own_engine:
                await active.dispose()
