"""The service behind a real PgBouncer in transaction mode (issue 18, item 2).

Debian 12's PgBouncer 1.18 does not keep prepared statements across transactions: each one
may run on another server connection. Before `CERTSVC_DB_TRANSACTION_POOLER`, `certsvc clients
create` through it failed with `prepared statement "__asyncpg_stmt_1__" already exists`. Here
PgBouncer 1.18 with its default settings (started by the test as the postgres user, which it
requires) pools three server connections for many clients, so that names collide and
statements land on other connections unless nothing outlives its transaction: the CLI,
registrations, certifications, point reads, a batch check and a payment run all go through it.
Without the setting the CLI test fails with the issue's error.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.db.migrate import upgrade_to_head
from app.domain.enums import Role
from app.main import create_app
from app.services.eligibility.policies import today
from tests.conftest import (
    _postgres_reason,
    make_settings,
    scratch_postgres,
    with_lifespan_state,
)
from tests.factories import face, id_number, recipient
from tests.faults.cluster import client_key, unavailable
from tests.pooler import installed, pgbouncer

pytestmark = pytest.mark.postgres_only


@dataclass
class Pooler:
    url: str  # through PgBouncer
    direct_url: str  # the same database, straight to PostgreSQL


@pytest.fixture
async def pooler() -> AsyncIterator[Pooler]:
    reason = await _postgres_reason()
    if reason is not None:
        unavailable(reason)
    if not installed():
        unavailable("pgbouncer is not installed (apt-get install pgbouncer)")
    async with scratch_postgres("certsvc_pgbouncer") as direct, pgbouncer(direct) as pooled:
        await asyncio.to_thread(upgrade_to_head, direct)
        yield Pooler(pooled, direct)


def _cli(pooler: Pooler, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CERTSVC_DATABASE_URL": pooler.url,
        "CERTSVC_DB_TRANSACTION_POOLER": "true",
        "CERTSVC_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_cli_creates_clients_through_pgbouncer(pooler: Pooler, tmp_path: Path) -> None:
    """The issue's failure: the second command's numbered statement met the first's."""
    for name in ("county-a", "county-b", "county-c"):
        made = _cli(
            pooler, tmp_path, "clients", "create", "--name", name, "--role", "county",
            "--regions", "14",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip().splitlines()[-1].startswith("csk_")
    listed = _cli(pooler, tmp_path, "clients", "list")
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in ("county-a", "county-b", "county-c"))


async def test_ingest_point_reads_batch_checks_and_a_run_work_through_pgbouncer(
    pooler: Pooler, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, pooler.url, db_transaction_pooler=True, rate_limits={}, db_pool_size=8
    )
    app = create_app(settings)
    county_key = await client_key(settings, Role.COUNTY, ("1404",))
    mobile_key = await client_key(settings, Role.MOBILE, ())
    payment_key = await client_key(settings, Role.PAYMENT, ())
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=with_lifespan_state(app, state))

        def client(key: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=transport,
                base_url="http://test",
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )

        async with (
            client(county_key) as county,
            client(mobile_key) as mobile,
            client(payment_key) as payment,
        ):
            # The service's own clock runs here: certified an hour ago, read today.
            recently = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            month = today().strftime("%Y-%m")
            registered = await asyncio.gather(
                *(county.post("/v1/recipients", json=recipient(id_number())) for _ in range(12))
            )
            assert {response.status_code for response in registered} == {201}
            ids = [response.json()["recipient_id"] for response in registered]
            certified = await asyncio.gather(
                *(mobile.post("/v1/certifications", json=face(rid, recently)) for rid in ids[:6])
            )
            assert {response.status_code for response in certified} == {201}, [
                response.text for response in certified
            ]
            reads = await asyncio.gather(
                *(payment.get(f"/v1/recipients/{rid}/eligibility") for rid in ids * 3)
            )
            assert {response.status_code for response in reads} == {200}, [
                response.text for response in reads if response.status_code != 200
            ]
            payable = [response.json()["benefits"][0]["payable"] for response in reads[:12]]
            assert payable == [True] * 6 + [False] * 6  # certified, then never certified
            checked = await payment.post(
                "/v1/eligibility/check",
                json={"month": month, "recipients": [{"recipient_id": rid} for rid in ids]},
            )
            assert checked.status_code == 200, checked.text
            assert {result["status"] for result in checked.json()["results"]} == {"found"}

            run = await payment.post("/v1/payment-runs", json={"month": month, "agency_code": "14"})
            assert run.status_code == 201, run.text
            run_id = run.json()["run_id"]
            deadline = time.monotonic() + 60
            while (status := (await payment.get(f"/v1/payment-runs/{run_id}")).json())[
                "status"
            ] in ("pending", "running"):
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.2)
            assert status["status"] == "completed", status
            assert status["items"] == 12
