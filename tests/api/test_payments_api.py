"""Batch checks and payment runs: the same answers as the single path, stored unchanged."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import httpx

from app.domain.enums import Role
from tests.conftest import Api
from tests.factories import benefit, face, id_number, recipient

FIELDS = ("payable", "status", "reason", "back_pay_months", "overpaid_months", "valid_through")


async def _population(api: Api) -> tuple[httpx.AsyncClient, list[str], list[str]]:
    """Recipients covering every status; returns a county client, ids and ID numbers."""
    county = await api.new_client(Role.COUNTY, ("14",))
    mobile = await api.new_client(Role.MOBILE)
    api.set_now("2026-02-01T10:00:00+08:00")
    numbers = [id_number() for _ in range(6)]
    ids = []
    plans = [
        [benefit()],  # certified in March: eligible
        [benefit(benefit_type="enterprise_pension", external_ref="P-2")],  # never: suspended
        [benefit(benefit_type="unemployment", approved=False, external_ref="U-3")],  # awaiting
        [benefit(), benefit(benefit_type="enterprise_pension", external_ref="P-4")],  # deceased
        [benefit(agency_code="140105", external_ref="T-5")],  # Taiyuan, out of the 1404 run
        [benefit(benefit_type="work_injury_nursing", external_ref="N-6")],  # certified, stale
    ]
    for number, benefits in zip(numbers, plans, strict=True):
        created = await county.post("/v1/recipients", json=recipient(number, benefits=benefits))
        assert created.status_code == 201, created.text
        ids.append(created.json()["recipient_id"])
    api.set_now("2026-03-15T10:00:00+08:00")
    for rid in (ids[0], ids[3], ids[4]):
        posted = await mobile.post(
            "/v1/certifications", json=face(rid, "2026-03-15T09:00:00+08:00")
        )
        assert posted.status_code == 201, posted.text
    api.set_now("2026-01-20T10:00:00+08:00")
    posted = await mobile.post("/v1/certifications", json=face(ids[5], "2026-01-20T09:00:00+08:00"))
    assert posted.status_code == 201
    api.set_now("2026-06-10T10:00:00+08:00")
    death = {
        "recipient_id": ids[3],
        "reason": "death",
        "occurred_on": "2026-05-02",
        "reported_by": "family",
    }
    assert (await county.post("/v1/stop-reports", json=death)).status_code == 201
    return county, ids, numbers


async def _single(client: httpx.AsyncClient, rid: str, on: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/v1/recipients/{rid}/eligibility", params={"on": on})
    assert response.status_code == 200, response.text
    return {b["benefit_id"]: b for b in response.json()["benefits"]}


async def test_batch_check_answers_in_order_and_agrees_with_single_answers(
    committing_api: Api,
) -> None:
    _, ids, numbers = await _population(committing_api)
    payment = await committing_api.new_client(Role.PAYMENT)
    keys: list[dict[str, str]] = [{"recipient_id": ids[0]}, {"id_number": id_number()}]
    keys += [{"id_number": number} for number in numbers[1:]]
    keys.append({"recipient_id": "01a20911-3a3f-7be8-853d-868634976169"})
    response = await payment.post(
        "/v1/eligibility/check", json={"month": "2026-06", "recipients": keys}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["on"] == "2026-06-10"
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(keys)))
    assert [r["status"] for r in results] == ["found", "not_found"] + ["found"] * 5 + ["not_found"]
    assert [r["recipient_id"] for r in results if r["status"] == "found"] == [ids[0], *ids[1:]]
    assert numbers[1] not in response.text
    statuses = set()
    for result in results:
        if result["status"] != "found":
            continue
        single = await _single(payment, result["recipient_id"], body["on"])
        for answer in result["benefits"]:
            statuses.add((answer["status"], answer["reason"]))
            assert {f: answer[f] for f in FIELDS} == {
                f: single[answer["benefit_id"]][f] for f in FIELDS
            }
    assert {s for s, _ in statuses} >= {
        "eligible",
        "suspended",
        "stopped",
        "awaiting_first_certification",
    }


async def test_a_payment_run_stores_what_the_single_path_says_and_never_changes(
    committing_api: Api,
) -> None:
    _, ids, _ = await _population(committing_api)
    payment = await committing_api.new_client(Role.PAYMENT)
    created = await payment.post(
        "/v1/payment-runs", json={"month": "2026-06", "agency_code": "1404"}
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    run = (await payment.get(f"/v1/payment-runs/{run_id}")).json()
    assert run["status"] == "completed"
    assert run["decided_on"] == "2026-06-10"
    assert run["items"] == 6  # five recipients' benefits in 1404; the Taiyuan one is out
    assert sum(run["counts"].values()) == run["items"]
    assert run["counts"]["stopped"] == 2

    items_response = await payment.get(f"/v1/payment-runs/{run_id}/items")
    assert items_response.headers["content-type"].startswith("application/x-ndjson")
    raw = items_response.content
    assert hashlib.sha256(raw).hexdigest() == run["digest"]
    items = [json.loads(line) for line in raw.splitlines()]
    assert [item["seq"] for item in items] == list(range(1, 7))
    for item in items:
        single = (await _single(payment, item["recipient_id"], "2026-06-10"))[item["benefit_id"]]
        assert {f: item[f] for f in FIELDS} == {f: single[f] for f in FIELDS}
        assert item["agency_code"].startswith("1404")

    again = await payment.post("/v1/payment-runs", json={"month": "2026-06", "agency_code": "1404"})
    assert (again.status_code, again.json()["run_id"]) == (200, run_id)

    # Later evidence changes the next run, never the stored one.
    committing_api.set_now("2026-06-12T10:00:00+08:00")
    mobile = await committing_api.new_client(Role.MOBILE)
    assert (
        await mobile.post("/v1/certifications", json=face(ids[1], "2026-06-12T09:00:00+08:00"))
    ).status_code == 201
    replay = await payment.get(f"/v1/payment-runs/{run_id}/items")
    assert replay.content == raw
    fresh = await payment.post(
        "/v1/payment-runs", json={"month": "2026-06", "agency_code": "1404", "new": True}
    )
    assert fresh.status_code == 201
    assert fresh.json()["generation"] == 2
    newer = (await payment.get(f"/v1/payment-runs/{fresh.json()['run_id']}")).json()
    assert newer["counts"]["payable"] == run["counts"]["payable"] + 1
    assert newer["digest"] != run["digest"]


async def test_run_items_stream_as_csv(committing_api: Api) -> None:
    await _population(committing_api)
    payment = await committing_api.new_client(Role.PAYMENT)
    run_id = (
        await payment.post("/v1/payment-runs", json={"month": "2026-06", "agency_code": "14"})
    ).json()["run_id"]
    response = await payment.get(f"/v1/payment-runs/{run_id}/items", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 7
    assert {row["payable"] for row in rows} == {"True", "False"}


async def test_payment_endpoints_refuse_other_roles_and_bad_input(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    payment = await api.new_client(Role.PAYMENT)
    denied = await county.post("/v1/payment-runs", json={"month": "2026-06", "agency_code": "1404"})
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden_role")
    bad_month = await payment.post(
        "/v1/payment-runs", json={"month": "2026-13", "agency_code": "14"}
    )
    assert (bad_month.status_code, bad_month.json()["code"]) == (422, "invalid_month")
    too_many = await payment.post(
        "/v1/eligibility/check",
        json={
            "month": "2026-06",
            "recipients": [{"recipient_id": "01a20911-3a3f-7be8-853d-868634976169"}] * 10001,
        },
    )
    assert too_many.status_code == 422
    missing = await payment.get("/v1/payment-runs/01a20911-3a3f-7be8-853d-868634976169")
    assert missing.status_code == 404
