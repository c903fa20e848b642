"""One computation per payment run, fenced writes, and a seal that proves the run whole.

Issue 15 found runs served as `completed` with a third of their items missing after racing
restarts. These tests pin each guarantee of app/db/runs/claims.py on both databases: of
concurrent requests for a stalled run exactly one takes it over; a computation that lost its
claim writes nothing; `completed` is set only by a transaction that proves every item stored;
`failed` and `completed` are final. The same with real processes killed or frozen mid-run is in
tests/faults/test_run_takeover.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import delete, func, select, text, update

from app.db.engine import create_sessionmaker
from app.db.models import PaymentRun, PaymentRunItem, PaymentRunPage
from app.db.runs import claims as run_claims
from app.db.runs.claims import ClaimLost, RunClaim, RunIncomplete
from app.db.runs.portable import write_page
from app.domain.enums import Role
from tests.conftest import Api, Database, _asyncpg_dsn
from tests.factories import benefit, face, recipient
from tests.runs import as_if_its_process_died

RUN_AT = "2026-06-10T10:00:00+08:00"
MONTH = {"month": "2026-06", "agency_code": "14"}


async def _population(api: Api, people: int = 8) -> httpx.AsyncClient:
    """Recipients in Shanxi, half of them certified; returns a payment client."""
    county = await api.new_client(Role.COUNTY, ("14",))
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2026-03-01T10:00:00+08:00")
    for index in range(people):
        body = recipient(
            benefits=[
                benefit(external_ref=f"R-{index}"),
                benefit(benefit_type="enterprise_pension", external_ref=f"P-{index}"),
            ]
        )
        created = await county.post("/v1/recipients", json=body)
        assert created.status_code == 201, created.text
        if index % 2:
            rid = created.json()["recipient_id"]
            certified = await mobile.post(
                "/v1/certifications", json=face(rid, "2026-03-01T09:00:00+08:00")
            )
            assert certified.status_code == 201, certified.text
    api.set_now(RUN_AT)
    return await api.new_client(Role.PAYMENT)


async def _completed_run(payment: httpx.AsyncClient) -> tuple[dict[str, Any], bytes]:
    created = await payment.post("/v1/payment-runs", json=MONTH)
    assert created.status_code == 201, created.text
    run = (await payment.get(f"/v1/payment-runs/{created.json()['run_id']}")).json()
    assert run["status"] == "completed", run
    served = await payment.get(f"/v1/payment-runs/{run['run_id']}/items")
    return run, served.content


async def _set_run(database: Database, run_id: uuid.UUID, **values: Any) -> None:
    """Overwrite a stored run's columns, as a dead process or another replica leaves them."""
    async with database.engine.begin() as connection:
        await connection.execute(update(PaymentRun).where(PaymentRun.id == run_id).values(**values))


async def _stalled_run(
    api: Api, database: Database
) -> tuple[httpx.AsyncClient, dict[str, Any], uuid.UUID]:
    """Two people's run, completed and then left as if its process had died: the payment
    client, the run as it was served, its id."""
    payment = await _population(api, people=2)
    run, _ = await _completed_run(payment)
    run_id = uuid.UUID(run["run_id"])
    await as_if_its_process_died(database, run_id, datetime.now(UTC) - timedelta(hours=1))
    return payment, run, run_id


async def test_of_concurrent_requests_for_a_stalled_run_exactly_one_takes_it_over(
    committing_api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database.settings, "run_span_benefits", 4)
    payment = await _population(committing_api)
    run, served = await _completed_run(payment)
    run_id = uuid.UUID(run["run_id"])
    await as_if_its_process_died(database, run_id, datetime.now(UTC) - timedelta(hours=1))
    answers = await asyncio.gather(
        *(payment.post("/v1/payment-runs", json=MONTH) for _ in range(4))
    )
    assert sorted(answer.status_code for answer in answers) == [200, 200, 200, 201]
    assert {answer.json()["run_id"] for answer in answers} == {run["run_id"]}
    after = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    assert (after["status"], after["attempt"]) == ("completed", 2)
    assert (after["digest"], after["counts"], after["items"]) == (
        run["digest"],
        run["counts"],
        run["items"],
    )
    assert after["planned_items"] == after["items"] == len(served.splitlines())
    again = await payment.get(f"/v1/payment-runs/{run_id}/items")
    assert again.content == served
    assert hashlib.sha256(again.content).hexdigest() == after["digest"]


async def test_a_run_still_beating_is_never_taken_over(
    committing_api: Api, database: Database
) -> None:
    payment = await _population(committing_api, people=2)
    run, _ = await _completed_run(payment)
    run_id = uuid.UUID(run["run_id"])
    await _set_run(database, run_id, status="running", heartbeat_at=datetime.now(UTC))
    again = await payment.post("/v1/payment-runs", json=MONTH)
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["attempt"]) == ("running", 1)


async def test_a_computation_that_lost_its_claim_writes_nothing(
    committing_api: Api, database: Database
) -> None:
    _, run, run_id = await _stalled_run(committing_api, database)
    sessions = create_sessionmaker(database.engine)
    async with sessions() as session, session.begin():
        stalled = await session.get_one(PaymentRun, run_id)
        taken = await run_claims.take_over(session, stalled, timedelta(minutes=5))
    assert taken == RunClaim(run_id, 2)
    async with sessions() as session, session.begin():
        await run_claims.start(session, taken)
    # The first computation wakes up and tries to store a page, to beat, to seal, to fail.
    old = RunClaim(run_id, 1)
    with pytest.raises(ClaimLost):
        await write_page(sessions, old, 1, 1, b"{}\n", [])
    async with sessions() as session, session.begin():
        with pytest.raises(ClaimLost):
            await run_claims.fence(session, old, items=1)
    async with sessions() as session, session.begin():
        with pytest.raises(ClaimLost):
            await run_claims.seal(session, old, run["digest"])
    async with sessions() as session, session.begin():
        assert await run_claims.fail(session, old, "late") is False
    async with sessions() as session:
        row = await session.get_one(PaymentRun, run_id)
        pages = await session.scalar(
            select(func.count()).select_from(PaymentRunPage).where(PaymentRunPage.run_id == run_id)
        )
    assert (row.status, row.attempt, row.error, pages) == ("running", 2, None, 0)


async def test_a_takeover_ends_a_stale_computation_frozen_inside_a_copy(
    committing_api: Api, database: Database
) -> None:
    """CI, stop 23: a server frozen (SIGSTOP) in the middle of a span's COPY held the run's row
    lock for good: a COPY that waits for rows is never ended by ``statement_timeout`` (the
    server checks it only when the client sends again), so every re-request answered 200 and
    the run never finished. The takeover now ends the stale computation's named sessions."""
    if database.backend != "postgresql":
        pytest.skip("sessions, row locks and COPY are PostgreSQL's")
    _, _, run_id = await _stalled_run(committing_api, database)
    frozen = await asyncpg.connect(_asyncpg_dsn(database.direct_url))
    never = asyncio.Event()

    async def rows_that_never_come() -> AsyncIterator[bytes]:
        await never.wait()
        yield b""

    transaction = frozen.transaction()
    await transaction.start()
    await run_claims.fence_raw(frozen, RunClaim(run_id, 1))  # the row lock, held from here
    copying = asyncio.create_task(
        frozen.copy_to_table("payment_run_items", source=rows_that_never_come())
    )
    try:
        await asyncio.sleep(0.5)
        sessions = create_sessionmaker(database.engine)
        async with sessions() as session, session.begin():
            stalled = await session.get_one(PaymentRun, run_id)
            taken = await run_claims.take_over(session, stalled, timedelta(minutes=5))
        assert taken == RunClaim(run_id, 2)
        async with database.engine.connect() as connection:
            alive = await connection.scalar(
                select(func.count())
                .select_from(text("pg_stat_activity"))
                .where(text("pid = :pid"))
                .params(pid=frozen.get_server_pid())
            )
        assert alive == 0  # the frozen computation's session was ended by the takeover
    finally:
        never.set()
        copying.cancel()
        frozen.terminate()
    async with sessions() as session:
        row = await session.get_one(PaymentRun, run_id)
    assert (row.status, row.attempt) == ("pending", 2)


@pytest.mark.parametrize("damage", ["missing_page", "missing_item_row", "altered_page", "plan"])
async def test_the_seal_refuses_a_run_that_is_not_whole(
    committing_api: Api, database: Database, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database.settings, "run_span_benefits", 4)
    payment = await _population(committing_api)
    run, _ = await _completed_run(payment)
    run_id = uuid.UUID(run["run_id"])
    async with database.engine.begin() as connection:
        await connection.execute(
            update(PaymentRun).where(PaymentRun.id == run_id).values(status="running")
        )
        if damage == "missing_page":
            await connection.execute(
                delete(PaymentRunPage).where(
                    PaymentRunPage.run_id == run_id, PaymentRunPage.page == 2
                )
            )
        elif damage == "missing_item_row":
            await connection.execute(
                delete(PaymentRunItem).where(
                    PaymentRunItem.run_id == run_id, PaymentRunItem.seq == 3
                )
            )
        elif damage == "altered_page":
            body = await connection.scalar(
                select(PaymentRunPage.body).where(
                    PaymentRunPage.run_id == run_id, PaymentRunPage.page == 1
                )
            )
            assert body is not None and body[10:11] != b"#"
            await connection.execute(
                update(PaymentRunPage)
                .where(PaymentRunPage.run_id == run_id, PaymentRunPage.page == 1)
                .values(body=body[:10] + b"#" + body[11:])  # same length, same lines
            )
        else:
            await connection.execute(
                update(PaymentRun)
                .where(PaymentRun.id == run_id)
                .values(planned_items=PaymentRun.planned_items + 1)
            )
    sessions = create_sessionmaker(database.engine)
    async with sessions() as session, session.begin():
        with pytest.raises(RunIncomplete):
            await run_claims.seal(session, RunClaim(run_id, 1), run["digest"])
    async with sessions() as session:
        assert (await session.get_one(PaymentRun, run_id)).status == "running"


async def test_the_seal_counts_from_the_stored_rows(
    committing_api: Api, database: Database
) -> None:
    payment = await _population(committing_api)
    run, served = await _completed_run(payment)
    lines = served.splitlines()
    payable = sum(b'"payable":true' in line for line in lines)
    assert run["counts"]["payable"] == payable > 0
    assert sum(run["counts"].values()) == run["items"] == run["planned_items"] == len(lines)


async def test_a_failed_run_is_final_and_the_next_request_makes_the_next_generation(
    committing_api: Api, database: Database
) -> None:
    payment = await _population(committing_api, people=2)
    run, served = await _completed_run(payment)
    run_id = uuid.UUID(run["run_id"])
    await _set_run(database, run_id, status="failed")
    again = await payment.post("/v1/payment-runs", json=MONTH)
    assert again.status_code == 201
    assert again.json()["run_id"] != run["run_id"]
    assert again.json()["generation"] == run["generation"] + 1
    assert (await payment.get(f"/v1/payment-runs/{run_id}")).json()["status"] == "failed"
    fresh = (await payment.get(f"/v1/payment-runs/{again.json()['run_id']}")).json()
    assert (fresh["status"], fresh["digest"]) == ("completed", run["digest"])
    # A completed run is returned as it is, never recomputed.
    same = await payment.post("/v1/payment-runs", json=MONTH)
    assert (same.status_code, same.json()["run_id"]) == (200, fresh["run_id"])
    assert (await payment.get(f"/v1/payment-runs/{fresh['run_id']}/items")).content == served


async def test_a_failure_after_a_takeover_never_fails_the_new_attempt(
    committing_api: Api, database: Database
) -> None:
    payment, run, run_id = await _stalled_run(committing_api, database)
    assert (await payment.post("/v1/payment-runs", json=MONTH)).status_code == 201
    sessions = create_sessionmaker(database.engine)
    async with sessions() as session, session.begin():
        assert await run_claims.fail(session, RunClaim(run_id, 1), "the old process") is False
    after = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    assert (after["status"], after["attempt"], after["digest"]) == ("completed", 2, run["digest"])
