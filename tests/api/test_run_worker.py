"""Payment runs computed by `certsvc worker` processes instead of the API (issue 17 item 5,
issue 18 item 1; app/services/payment_runs/queue.py), on both databases.

With CERTSVC_RUN_COMPUTE=worker the API only records a run (201, pending) and never computes
or takes one over; a worker reserves it (of concurrent workers exactly one), computes it with
the API's own code, so its digest is the digest an API-computed run has, and takes over a run
whose computation stopped beating. The same with real processes killed mid-run is in
tests/faults/test_run_takeover.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from app.db.engine import create_sessionmaker
from app.db.models import PaymentRun
from app.domain.policy import load_policies
from app.services.payment_runs import runs
from app.services.payment_runs.queue import claim_next, work_once
from app.services.payment_runs.runs import RunOptions
from app.services.payment_runs.workers import WorkerSpec, decide_in_workers
from app.settings import RunCompute
from tests.api.test_run_claims import MONTH, _population
from tests.cli import certsvc
from tests.conftest import Api, Database
from tests.runs import (
    as_if_its_process_died,
    compute_waiting_runs,
    leave_runs_to_workers,
    source_of,
)


@pytest.fixture
def in_workers(database: Database, monkeypatch: pytest.MonkeyPatch) -> RunOptions:
    monkeypatch.setattr(database.settings, "run_compute", RunCompute.WORKER)
    monkeypatch.setattr(database.settings, "run_span_benefits", 4)
    return RunOptions.of(database.settings)


async def test_the_api_records_the_run_and_a_worker_computes_it_as_the_api_would(
    committing_api: Api, database: Database, in_workers: RunOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = await _population(committing_api)
    created = await payment.post("/v1/payment-runs", json=MONTH)
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    waiting = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    assert (waiting["status"], waiting["items"]) == ("pending", 0)  # the API computed nothing

    sessions, source = create_sessionmaker(database.engine), source_of(database)
    assert await work_once(sessions, source, load_policies(), in_workers) == 1
    assert await work_once(sessions, source, load_policies(), in_workers) == 0  # nothing waits now
    done = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    assert (done["status"], done["attempt"]) == ("completed", 1)

    monkeypatch.setattr(database.settings, "run_compute", RunCompute.API)
    by_api = await payment.post("/v1/payment-runs", json={**MONTH, "new": True})
    reference = (await payment.get(f"/v1/payment-runs/{by_api.json()['run_id']}")).json()
    assert reference["status"] == "completed"
    assert (done["digest"], done["counts"], done["items"]) == (
        reference["digest"],
        reference["counts"],
        reference["items"],
    )


async def test_of_concurrent_workers_exactly_one_reserves_a_waiting_run(
    committing_api: Api, database: Database, in_workers: RunOptions
) -> None:
    payment = await _population(committing_api, people=2)
    created = await payment.post("/v1/payment-runs", json=MONTH)
    sessions = create_sessionmaker(database.engine)
    claims = await asyncio.gather(*(claim_next(sessions, in_workers) for _ in range(4)))
    taken = [claim for claim in claims if claim is not None]
    assert [(claim.run_id, claim.attempt) for claim in taken] == [
        (uuid.UUID(created.json()["run_id"]), 1)
    ]


async def test_a_run_that_waited_longer_than_a_lease_is_reserved_not_taken_over(
    committing_api: Api, database: Database, in_workers: RunOptions
) -> None:
    """Found by the kill -9 test: a worker that starts after a run waited a lease took it
    over (attempt 2, a takeover audited) though nobody had ever computed it."""
    payment = await _population(committing_api, people=2)
    created = await payment.post("/v1/payment-runs", json=MONTH)
    run_id = uuid.UUID(created.json()["run_id"])
    async with database.engine.begin() as connection:
        await connection.execute(
            update(PaymentRun)
            .where(PaymentRun.id == run_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
        )
    claim = await claim_next(create_sessionmaker(database.engine), in_workers)
    assert claim is not None and (claim.run_id, claim.attempt) == (run_id, 1)


async def test_a_stalled_run_is_left_to_the_workers_and_one_takes_it_over(
    committing_api: Api, database: Database, in_workers: RunOptions
) -> None:
    payment = await _population(committing_api)
    created = await payment.post("/v1/payment-runs", json=MONTH)
    run_id = uuid.UUID(created.json()["run_id"])
    sessions, source = create_sessionmaker(database.engine), source_of(database)
    assert await work_once(sessions, source, load_policies(), in_workers) == 1
    before = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    await as_if_its_process_died(database, run_id, datetime.now(UTC) - timedelta(hours=1))

    again = await payment.post("/v1/payment-runs", json=MONTH)
    assert again.status_code == 200  # the API takes nothing over when workers compute
    assert (again.json()["status"], again.json()["attempt"]) == ("running", 1)
    assert await work_once(sessions, source, load_policies(), in_workers) == 1
    after = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    assert (after["status"], after["attempt"]) == ("completed", 2)
    assert (after["digest"], after["items"]) == (before["digest"], before["items"])


def test_the_worker_command_computes_what_waits_and_exits_with_once(tmp_path: Path) -> None:
    done = certsvc(tmp_path, "worker", "--once")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "computed 0 payment runs"


async def test_only_a_run_worker_spreads_a_run_over_decision_processes(
    committing_api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run big enough for decision processes (here: any run, spans of two benefits) is
    computed inside the API process when the API computes it; a `certsvc worker` spreads the
    same run over decision processes on PostgreSQL, and both store the same digest."""
    started: list[int] = []
    spread = decide_in_workers

    async def counted(spec: WorkerSpec, spans: Any, stored: Any, workers: int) -> None:
        started.append(workers)
        await spread(spec, spans, stored, workers)

    monkeypatch.setattr(runs, "decide_in_workers", counted)
    monkeypatch.setattr(runs, "POOL_MIN_ITEMS", 0)
    monkeypatch.setattr(database.settings, "run_span_benefits", 2)
    payment = await _population(committing_api)
    by_api = (await payment.post("/v1/payment-runs", json=MONTH)).json()
    by_api = (await payment.get(f"/v1/payment-runs/{by_api['run_id']}")).json()
    assert by_api["status"] == "completed"
    assert started == []  # the API computed it without starting a process

    leave_runs_to_workers(database, monkeypatch, span_benefits=2)
    created = await payment.post("/v1/payment-runs", json={**MONTH, "new": True})
    assert await compute_waiting_runs(database, processes=2) == 1
    by_worker = (await payment.get(f"/v1/payment-runs/{created.json()['run_id']}")).json()
    assert by_worker["status"] == "completed"
    assert started == ([2] if database.backend == "postgresql" else [])
    assert (by_worker["digest"], by_worker["items"]) == (by_api["digest"], by_api["items"])
