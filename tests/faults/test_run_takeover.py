"""A payment run whose server is killed (kill -9) or frozen (SIGSTOP) mid-computation, then
requested again by several callers at once, on real server processes and PostgreSQL.

Issue 15: after a kill -9, 3–4 concurrent re-requests each restarted the same run, and one was
served as `completed` with 236,528 of 356,528 items. Here: exactly one re-request takes the run
over (201, the others 200), the run is completed only whole (its items are every benefit in
scope, numbered 1…N, hashing to its digest, the same digest as an undisturbed run), and it is
never seen `failed` on the way. A frozen computation that wakes up after the takeover writes
nothing (its claim is fenced) and the run stays whole. With run workers (CERTSVC_RUN_COMPUTE=
worker), a `certsvc worker` killed mid-run is taken over by another worker, and the run is served
whole with the digest of an undisturbed one.

Each test builds its own database on the test server with bench.province's generator and runs
`certsvc serve` as a subprocess with a short lease and small spans, so that a run takes a few
seconds and the kill lands mid-run (the test checks that it did).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.db.migrate import upgrade_to_head
from app.settings import get_settings
from bench import harness
from bench.province import generate
from tests.conftest import ADMIN_URL, ENCRYPTION_KEY, HMAC_KEY, _asyncpg_dsn, require_postgres

pytestmark = pytest.mark.postgres_only

LEASE_SECONDS = 2.0
RECIPIENTS = 12_000
MONTH = {"month": "2026-06", "agency_code": "14"}


@dataclass
class Province:
    url: str
    dsn: str
    payment_key: str


@pytest.fixture
async def province(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Province]:
    await require_postgres()
    name = f"certsvc_takeover_{uuid.uuid4().hex[:10]}"
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    await admin.execute(f'CREATE DATABASE "{name}"')
    for variable, value in {
        "CERTSVC_DATABASE_URL": url,
        "CERTSVC_DATA_DIR": str(tmp_path),
        "CERTSVC_ID_HMAC_KEY": HMAC_KEY,
        "CERTSVC_ID_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CERTSVC_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
        "CERTSVC_RUN_SPAN_BENEFITS": "100",
        "CERTSVC_RATE_LIMITS": '{"payment": 0}',
    }.items():
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        await generate(url, RECIPIENTS, "14", 11, date(2026, 6, 10))
        key = await asyncio.to_thread(harness.create_client, "takeover-payment", "payment")
        yield Province(url, _asyncpg_dsn(url), key)
    finally:
        get_settings.cache_clear()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def servers() -> Iterator[list[harness.Server]]:
    started: list[harness.Server] = []
    yield started
    for server in started:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.pid, signal.SIGCONT)
            server.stop()


def _serve(servers: list[harness.Server]) -> harness.Server:
    port = 0
    while not port or not harness.port_is_free(port):
        port = 20000 + uuid.uuid4().int % 20000
    server = harness.certsvc_server(port)
    server.start()
    servers.append(server)
    return server


def _client(server: harness.Server, province: Province) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {province.payment_key}"},
        timeout=30,
    )


async def _row(province: Province, run_id: str) -> asyncpg.Record:
    connection = await asyncpg.connect(province.dsn)
    try:
        row = await connection.fetchrow(
            "SELECT status, attempt, items, planned_items, heartbeat_at FROM payment_runs"
            " WHERE id = $1",
            uuid.UUID(run_id),
        )
    finally:
        await connection.close()
    assert row is not None
    return row


async def _start_and_interrupt(
    server: harness.Server, province: Province, sig: signal.Signals
) -> str:
    """Create the month's run and send ``sig`` to its server once some spans are stored."""
    async with _client(server, province) as payment:
        created = await payment.post("/v1/payment-runs", json=MONTH)
        assert created.status_code == 201, created.text
        run_id: str = created.json()["run_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
            if run["status"] == "running" and run["items"] > 0:
                break
            assert run["status"] in ("pending", "running"), run
            await asyncio.sleep(0.005)
    os.kill(server.pid, sig)
    row = await _row(province, run_id)
    # The signal landed mid-run: some spans stored, not all, nothing sealed.
    assert row["status"] == "running", dict(row)
    assert 0 < row["items"] < row["planned_items"], dict(row)
    return run_id


async def _wait_completed(payment: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run: dict[str, Any] = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
        seen.append(run["status"])
        if run["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.05)
    assert set(seen) <= {"pending", "running", "completed"}, seen
    assert seen[-1] == "completed", seen
    return run


async def _assert_whole(
    payment: httpx.AsyncClient, province: Province, run: dict[str, Any]
) -> None:
    """Every benefit in scope once, in order, hashing to the digest an undisturbed run has."""
    served = (await payment.get(f"/v1/payment-runs/{run['run_id']}/items")).content
    lines = [json.loads(line) for line in served.splitlines()]
    connection = await asyncpg.connect(province.dsn)
    try:
        in_scope = await connection.fetchval(
            "SELECT count(*) FROM benefits WHERE agency_code LIKE '14%'"
        )
    finally:
        await connection.close()
    assert [line["seq"] for line in lines] == list(range(1, in_scope + 1))
    assert len({line["benefit_id"] for line in lines}) == in_scope
    assert run["items"] == run["planned_items"] == in_scope
    assert sum(run["counts"].values()) == in_scope
    assert hashlib.sha256(served).hexdigest() == run["digest"]
    undisturbed = await payment.post("/v1/payment-runs", json={**MONTH, "new": True})
    assert undisturbed.status_code == 201
    reference = await _wait_completed(payment, undisturbed.json()["run_id"])
    assert (reference["digest"], reference["counts"]) == (run["digest"], run["counts"])


async def _sessions(province: Province) -> str:
    """What the database's sessions are doing, and who waits for whom: a failure's story."""
    connection = await asyncpg.connect(province.dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid, application_name, state, wait_event_type, wait_event,"
            " pg_blocking_pids(pid) AS blockers, left(query, 80) AS query"
            " FROM pg_stat_activity WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return "\n".join(str(dict(row)) for row in rows)


async def _wait_stale(province: Province, run_id: str) -> None:
    row = await _row(province, run_id)
    await asyncio.sleep(LEASE_SECONDS + 0.5)
    assert (await _row(province, run_id))["heartbeat_at"] == row["heartbeat_at"]


async def test_a_run_killed_mid_way_is_taken_over_by_one_of_four_callers_and_served_whole(
    province: Province, servers: list[harness.Server]
) -> None:
    run_id = await _start_and_interrupt(_serve(servers), province, signal.SIGKILL)
    second = _serve(servers)
    async with _client(second, province) as payment:
        await _wait_stale(province, run_id)
        answers = await asyncio.gather(
            *(payment.post("/v1/payment-runs", json=MONTH) for _ in range(4))
        )
        assert sorted(answer.status_code for answer in answers) == [200, 200, 200, 201], [
            answer.text for answer in answers
        ]
        assert {answer.json()["run_id"] for answer in answers} == {run_id}
        run = await _wait_completed(payment, run_id)
        assert run["attempt"] == 2
        await _assert_whole(payment, province, run)


async def test_a_frozen_computation_that_wakes_after_a_takeover_writes_nothing(
    province: Province, servers: list[harness.Server]
) -> None:
    first = _serve(servers)
    run_id = await _start_and_interrupt(first, province, signal.SIGSTOP)
    second = _serve(servers)
    async with _client(second, province) as payment:
        await _wait_stale(province, run_id)
        # Frozen inside a span's write, the old process holds the run's row lock: idle, its
        # transaction is ended by PostgreSQL after a lease; inside a COPY it never would be
        # (CI, stop 23), so the takeover ends the stale computation's sessions. Meanwhile the
        # run is left as it is (200), never taken over twice.
        deadline = time.monotonic() + 30
        while (taken := await payment.post("/v1/payment-runs", json=MONTH)).status_code != 201:
            assert taken.status_code == 200, taken.text
            assert (taken.json()["run_id"], taken.json()["attempt"]) == (run_id, 1)
            assert time.monotonic() < deadline, await _sessions(province)
            await asyncio.sleep(0.5)
        os.kill(first.pid, signal.SIGCONT)  # the old computation goes on where it stopped
        run = await _wait_completed(payment, run_id)
        assert run["attempt"] == 2
        await _assert_whole(payment, province, run)
    # The woken process saw its claim gone, stopped its computation, and still serves.
    deadline = time.monotonic() + 10
    while "taken over" not in first.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, first.log.read_text(errors="replace")[-2000:]
        await asyncio.sleep(0.1)
    async with _client(first, province) as payment:
        assert (await payment.get(f"/v1/payment-runs/{run_id}")).json()["digest"] == run["digest"]


def _worker(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [*harness.certsvc_command(), "worker", "--jobs", "runs", "--poll", "0.2"],
        env=harness.service_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def test_a_run_worker_killed_mid_way_is_taken_over_by_another_worker(
    province: Province,
    servers: list[harness.Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTSVC_RUN_COMPUTE", "worker")
    api = _serve(servers)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        async with _client(api, province) as payment:
            created = await payment.post("/v1/payment-runs", json=MONTH)
            assert created.status_code == 201, created.text
            run_id = created.json()["run_id"]
            await asyncio.sleep(1)
            assert (await _row(province, run_id))["status"] == "pending"  # the API computes nothing
            workers.append(_worker(tmp_path, "first"))
            deadline = time.monotonic() + 60
            while not ((row := await _row(province, run_id))["items"] > 0):
                assert time.monotonic() < deadline and workers[0].poll() is None, dict(row)
                await asyncio.sleep(0.005)
            workers[0].kill()
            workers[0].wait()
            row = await _row(province, run_id)
            assert row["status"] == "running" and 0 < row["items"] < row["planned_items"], dict(row)
            workers.append(_worker(tmp_path, "second"))
            run = await _wait_completed(payment, run_id)
            assert run["attempt"] == 2
            await _assert_whole(payment, province, run)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
