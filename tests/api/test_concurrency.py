"""Concurrent writers never lose an update; a payment run is consistent with one instant."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.db.models import Certification
from app.domain.enums import Role
from tests.conftest import Api, Database
from tests.factories import face, recipient


async def test_fifty_certifications_at_once_for_one_recipient_all_count(
    committing_api: Api, database: Database
) -> None:
    committing_api.set_now("2026-06-30T12:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    mobile = await committing_api.new_client(Role.MOBILE)
    rid = (await county.post("/v1/recipients", json=recipient())).json()["recipient_id"]
    start = datetime.fromisoformat("2026-04-02T09:00:00+08:00")
    bodies = [
        face(rid, (start + timedelta(days=day)).isoformat(), source_ref=f"burst-{day}")
        for day in range(50)
    ]
    responses = await asyncio.gather(*(mobile.post("/v1/certifications", json=b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 50
    async with database.engine.connect() as connection:
        stored = await connection.scalar(
            select(func.count())
            .select_from(Certification)
            .where(Certification.recipient_id == uuid.UUID(rid))
        )
    assert stored == 50
    newest = bodies[-1]["occurred_at"]  # 2026-05-21: 6-month cycle → valid through 2026-10-31
    answer = (await mobile.get(f"/v1/recipients/{rid}/eligibility")).json()["benefits"][0]
    assert answer["valid_through"] == "2026-10-31"
    assert answer["last_certification"]["occurred_at"].startswith(newest[:10])


async def test_a_payment_run_created_during_ingest_is_consistent_with_its_instant(
    committing_api: Api,
) -> None:
    committing_api.set_now("2026-06-10T10:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    mobile = await committing_api.new_client(Role.MOBILE)
    payment = await committing_api.new_client(Role.PAYMENT)
    ids = [
        (await county.post("/v1/recipients", json=recipient())).json()["recipient_id"]
        for _ in range(12)
    ]
    ingest = [
        mobile.post("/v1/certifications", json=face(rid, "2026-06-10T09:00:00+08:00"))
        for rid in ids
    ]
    run_request = payment.post("/v1/payment-runs", json={"month": "2026-06", "agency_code": "1404"})
    results = await asyncio.gather(*ingest[:6], run_request, *ingest[6:])
    created = results.pop(6)
    assert [r.status_code for r in results] == [201] * 12
    run = (await payment.get(f"/v1/payment-runs/{created.json()['run_id']}")).json()
    assert run["status"] == "completed"
    items = [
        json.loads(line)
        for line in (
            await payment.get(f"/v1/payment-runs/{run['run_id']}/items")
        ).content.splitlines()
    ]
    assert len(items) == 12
    # Every recipient certified in the same instant the run was created (the test clock is
    # frozen), so each decision must be one of the two states, never a mixture: before the
    # certification (never certified, withheld since enforcement) or after it (certified).
    before = {"payable": False, "status": "suspended", "reason": "never_certified"}
    after = {"payable": True, "status": "eligible", "reason": "certified"}
    for item in items:
        state = {f: item[f] for f in ("payable", "status", "reason")}
        assert state in (before, after), item
        assert (item["valid_through"] is None) == (state == before)
    assert sum(run["counts"].values()) == run["items"] == 12
