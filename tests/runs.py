"""Payment runs computed the way a `certsvc worker` computes them, for tests that need a run
spread over decision processes (only worker processes start those; the API never does)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

import pytest
from sqlalchemy import delete, update

from app.db.engine import create_sessionmaker
from app.db.models import PaymentRun, PaymentRunPage
from app.db.runs import run_source
from app.db.runs.source import RunSource
from app.domain.policy import load_policies
from app.services.payment_runs import runs
from app.services.payment_runs.queue import work_once
from app.settings import RunCompute
from tests.conftest import Database


def leave_runs_to_workers(
    database: Database, monkeypatch: pytest.MonkeyPatch, *, span_benefits: int
) -> None:
    """The API only records runs; spans of ``span_benefits``, and every run big enough to be
    spread over decision processes."""
    monkeypatch.setattr(database.settings, "run_compute", RunCompute.WORKER)
    monkeypatch.setattr(database.settings, "run_span_benefits", span_benefits)
    monkeypatch.setattr(runs, "POOL_MIN_ITEMS", 0)


async def compute_waiting_runs(database: Database, processes: int = 2) -> int:
    """Every waiting run computed by one worker with ``processes`` decision processes."""
    options = dataclasses.replace(
        runs.RunOptions.of(database.settings, worker=True), processes=processes
    )
    return await work_once(
        create_sessionmaker(database.engine), source_of(database), load_policies(), options
    )


def source_of(database: Database) -> RunSource:
    """The run source the runtime builds for this database (behind PgBouncer, its decision
    processes keep no prepared statements)."""
    return run_source(database.engine, pooled=database.pooled)


async def as_if_its_process_died(
    database: Database, run_id: uuid.UUID, heartbeat_at: datetime
) -> None:
    """Leave a stored run as a process that died half-way would: running, last beating at
    ``heartbeat_at``, no digest nor completion, only its first page stored."""
    async with database.engine.begin() as connection:
        await connection.execute(
            update(PaymentRun)
            .where(PaymentRun.id == run_id)
            .values(status="running", digest=None, completed_at=None, heartbeat_at=heartbeat_at)
        )
        await connection.execute(
            delete(PaymentRunPage).where(PaymentRunPage.run_id == run_id, PaymentRunPage.page > 1)
        )
