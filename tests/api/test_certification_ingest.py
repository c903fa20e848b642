"""Certification ingest as one set-based path (issue 6), on SQLite and PostgreSQL: batch items
that share a key or a recipient behave as sequential requests would, replays come before the
checks, and each stored certification records its audit entry and announces its events once.

On PostgreSQL the ``api`` fixture runs ingest on the session's connection (inside the test's
transaction) and ``committing_api`` on the bare pool in a transaction of its own: tests of
what is written run under both.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.models import AuditEntry, Certification, OutboxEvent, WebhookDelivery
from app.domain.enums import Role
from app.schemas.certifications import BatchResult
from tests.api.test_key_rotation import face_by_number, register, rotated, same_client, serving
from tests.conftest import Api, Database
from tests.factories import (
    benefit,
    certification,
    face,
    home_visit_details,
    id_number,
    recipient,
)

NOW = "2026-06-10T10:00:00+08:00"
EARLIER_TODAY = "2026-06-10T09:00:00+08:00"
APRIL, MAY = "2026-04-15T09:00:00+08:00", "2026-05-20T09:00:00+08:00"
# A work-injury dependent, one emergency contact: a six-month cycle (see test_certifications_api).
APRIL_VALID_THROUGH, JUNE_VALID_THROUGH = "2026-09-30", "2026-11-30"


async def _person(county: httpx.AsyncClient, **overrides: Any) -> str:
    response = await county.post("/v1/recipients", json=recipient(**overrides))
    assert response.status_code == 201, response.text
    recipient_id: str = response.json()["recipient_id"]
    return recipient_id


async def _batch(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await client.post("/v1/certifications/batch", json={"items": items})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [result["index"] for result in results] == list(range(len(items)))
    return results


def _statuses(results: list[dict[str, Any]]) -> list[int]:
    return [result["status"] for result in results]


def _valid_through(result: dict[str, Any]) -> list[str | None]:
    return [item["valid_through"] for item in result["certification"]["benefits"]]


async def _count(reader: AsyncEngine | AsyncConnection, model: Any, *where: Any) -> int:
    """Rows of ``model``, read inside the test's transaction (a connection) or committed."""
    query = select(func.count()).select_from(model).where(*where)
    if isinstance(reader, AsyncConnection):
        return int(await reader.scalar(query) or 0)
    async with reader.connect() as connection:
        return int(await connection.scalar(query) or 0)


# --- keys shared inside one batch -----------------------------------------------------------


async def test_items_sharing_a_source_ref_answer_as_sequential_requests_would(api: Api) -> None:
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    person = await _person(county)
    first = face(person, EARLIER_TODAY, "shared-1")
    changed = face(person, EARLIER_TODAY, "shared-1", similarity=0.95)
    too_old = face(person, (datetime.fromisoformat(NOW) - timedelta(days=91)).isoformat(), "ref-2")
    fine = face(person, EARLIER_TODAY, "ref-2")

    results = await _batch(mobile, [first, first, changed, too_old, fine])

    assert _statuses(results) == [201, 200, 409, 422, 201]
    assert results[1]["certification"] == results[0]["certification"]
    assert results[2]["problem"]["code"] == "idempotency_conflict"
    # The first "ref-2" failed a check and stored nothing: the second is not its replay.
    assert results[3]["problem"]["code"] == "too_old"
    assert results[4]["certification"]["source_ref"] == "ref-2"
    stored = await _listing(county, person)
    assert sorted(item["source_ref"] for item in stored) == ["ref-2", "shared-1"]


async def _listing(county: httpx.AsyncClient, person: str) -> list[dict[str, Any]]:
    response = await county.get(f"/v1/recipients/{person}/certifications", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_each_item_sees_the_earlier_items_of_its_recipient_and_none_after(api: Api) -> None:
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    one, other = await _person(county), await _person(county)
    items = [
        face(one, APRIL),
        face(other, EARLIER_TODAY),
        face(one, EARLIER_TODAY),
        face(one, MAY),  # late and older: never shortens what June gave
    ]

    results = await _batch(mobile, items)

    assert _statuses(results) == [201, 201, 201, 201]
    assert [_valid_through(result) for result in results] == [
        [APRIL_VALID_THROUGH],  # June is not yet known to the first item
        [JUNE_VALID_THROUGH],
        [JUNE_VALID_THROUGH],
        [JUNE_VALID_THROUGH],
    ]
    answer = (await mobile.get(f"/v1/recipients/{one}/eligibility")).json()["benefits"][0]
    assert (
        answer["last_certification"]["certification_id"]
        == (results[2]["certification"]["certification_id"])
    )


# --- replays come before the checks ---------------------------------------------------------


async def test_a_replay_answers_with_the_original_even_when_the_item_now_fails_a_check(
    api: Api,
) -> None:
    """Retried three months later (beyond the backdate limit): still the original, not 422."""
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    person = await _person(county)
    body = face(person, EARLIER_TODAY, "late-retry-1")
    original = await mobile.post("/v1/certifications", json=body)
    assert original.status_code == 201, original.text

    api.set_now(datetime.fromisoformat(NOW) + timedelta(days=91))
    single = await mobile.post("/v1/certifications", json=body)
    assert single.status_code == 200, single.text
    assert single.json()["certification_id"] == original.json()["certification_id"]
    changed = {**body, "occurred_at": "2026-06-10T08:00:00+08:00"}
    new = face(person, EARLIER_TODAY, "late-new-1")
    results = await _batch(mobile, [body, changed, new])
    assert _statuses(results) == [200, 409, 422]
    assert results[0]["certification"]["certification_id"] == original.json()["certification_id"]
    assert [result["problem"]["code"] for result in results[1:]] == [
        "idempotency_conflict",
        "too_old",
    ]


async def test_a_replay_of_a_revoked_certification_shows_the_revocation(api: Api) -> None:
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    person = await _person(county)
    body = certification(person, "home_visit", home_visit_details(), source_ref="revoked-1")
    posted = await county.post("/v1/certifications", json=body)
    assert posted.status_code == 201, posted.text
    path = f"/v1/certifications/{posted.json()['certification_id']}/revoke"
    assert (await county.post(path, json={"reason": "wrong person"})).status_code == 200

    results = await _batch(county, [body])

    assert _statuses(results) == [200]
    replay = results[0]["certification"]
    assert (replay["counted"], replay["revocation"]["reason"]) == (False, "wrong person")
    assert _valid_through(results[0]) == [None]


# --- what storing records, once -------------------------------------------------------------


async def test_each_new_certification_records_one_audit_entry_and_announces_each_benefit(
    api: Api, connection: AsyncConnection
) -> None:
    await _records_once(api, connection)


async def test_the_same_holds_when_ingest_commits_on_its_own_connection(
    committing_api: Api, database: Database
) -> None:
    """On PostgreSQL the common case writes on the bare pool, in a transaction of its own."""
    await _records_once(committing_api, database.engine)


async def _records_once(api: Api, reader: AsyncEngine | AsyncConnection) -> None:
    """Reading with ``reader``: the test's transaction, or what was committed."""
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    hook = await county.post(
        "/v1/webhooks",
        json={
            "url": "https://county.example.cn/hook",
            "events": ["certified"],
            "secret": "s3cret-Value-0123456789",
        },
    )
    assert hook.status_code == 201, hook.text
    two_benefits = [benefit(), benefit(benefit_type="work_injury_disability")]
    person = await _person(county, benefits=two_benefits)
    counted = face(person, EARLIER_TODAY, f"counted-{uuid.uuid4()}")
    below = face(person, EARLIER_TODAY, f"below-{uuid.uuid4()}", similarity=0.5)

    for _ in range(2):  # the second time, every item is a replay: nothing more is recorded
        results = await _batch(mobile, [counted, below, counted])
        assert [result["certification"]["counted"] for result in results] == [True, False, True]
    assert _statuses(results) == [200, 200, 200]

    ids = [result["certification"]["certification_id"] for result in results[:2]]
    recorded = [AuditEntry.action == "certification.recorded", AuditEntry.resource_id.in_(ids)]
    assert await _count(reader, AuditEntry, *recorded) == 2
    events = [OutboxEvent.event_type == "certified", OutboxEvent.recipient_id == uuid.UUID(person)]
    assert await _count(reader, OutboxEvent, *events) == 2  # one per benefit, none for "below"
    deliveries = WebhookDelivery.webhook_id == uuid.UUID(hook.json()["webhook_id"])
    assert await _count(reader, WebhookDelivery, deliveries) == 2


async def test_a_batch_with_a_home_visit_and_a_certification_after_death_stores_all_of_it(
    api: Api,
) -> None:
    """The items whose storing completes a request or opens a case take the ORM path; the
    batch stays one transaction with the others."""
    api.set_now("2026-06-09T16:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    visited, deceased, plain = [await _person(county) for _ in range(3)]
    opened = await county.post(
        "/v1/home-visit-requests",
        json={"recipient_id": visited, "requested_by": "family", "reason": "elderly"},
    )
    assert opened.status_code == 201, opened.text
    request_id = opened.json()["request_id"]
    death = {
        "recipient_id": deceased,
        "reason": "death",
        "occurred_on": "2026-05-01",
        "reported_by": "family",
    }
    assert (await county.post("/v1/stop-reports", json=death)).status_code == 201
    at = "2026-06-09T15:00:00+08:00"
    visit = certification(
        visited,
        "home_visit",
        home_visit_details(request_id=request_id, visited_at=at),
        occurred_at=at,
    )
    after_death = certification(
        deceased, "home_visit", home_visit_details(visited_at=at), occurred_at=at
    )
    ordinary = certification(plain, "home_visit", home_visit_details(visited_at=at), occurred_at=at)

    results = await _batch(county, [visit, after_death, ordinary])

    assert _statuses(results) == [201, 201, 201]
    assert "after_recorded_death" in results[1]["certification"]["warnings"]
    request = (await county.get(f"/v1/home-visit-requests/{request_id}")).json()
    assert (request["status"], request["certification_id"]) == (
        "completed",
        results[0]["certification"]["certification_id"],
    )
    cases = (await county.get("/v1/verification-cases", params={"status": "open"})).json()
    assert [(case["reason"], case["certification_id"]) for case in cases["items"]] == [
        ("certified_after_death", results[1]["certification"]["certification_id"])
    ]


async def test_a_committed_home_visit_completes_its_request_in_the_same_transaction(
    committing_api: Api,
) -> None:
    """A single item whose storing completes a request takes the session's path: on
    PostgreSQL its first statement begins the session's transaction (the caller is cached, the
    recipient was read on the bare pool), and the completion commits with the certification."""
    committing_api.set_now("2026-06-09T16:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    person = await _person(county)
    opened = await county.post(
        "/v1/home-visit-requests",
        json={"recipient_id": person, "requested_by": "family", "reason": "elderly"},
    )
    request_id = opened.json()["request_id"]
    at = "2026-06-09T15:00:00+08:00"
    details = home_visit_details(request_id=request_id, visited_at=at)
    posted = await county.post(
        "/v1/certifications", json=certification(person, "home_visit", details, occurred_at=at)
    )
    assert posted.status_code == 201, posted.text
    request = (await county.get(f"/v1/home-visit-requests/{request_id}")).json()
    assert (request["status"], request["certification_id"]) == (
        "completed",
        posted.json()["certification_id"],
    )


# --- concurrency (real commits) -------------------------------------------------------------


async def test_racing_batches_that_share_source_refs_store_each_once(
    committing_api: Api, database: Database
) -> None:
    """Two batches with the same items in opposite orders: each certification is stored once,
    created by one batch and replayed by the other, and neither deadlocks."""
    committing_api.set_now(NOW)
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    mobile = await committing_api.new_client(Role.MOBILE)
    people = [await _person(county) for _ in range(6)]
    items = [face(person, EARLIER_TODAY, f"race-{n}") for n, person in enumerate(people)]

    forward, backward = await asyncio.gather(
        _batch(mobile, items), _batch(mobile, list(reversed(items)))
    )

    pairs = list(zip(forward, reversed(backward), strict=True))
    assert [sorted([a["status"], b["status"]]) for a, b in pairs] == [[200, 201]] * len(items)
    for a, b in pairs:
        assert a["certification"]["certification_id"] == b["certification"]["certification_id"]
    refs = Certification.source_ref.like("race-%")
    assert await _count(database.engine, Certification, refs) == len(items)


# --- the answer -----------------------------------------------------------------------------


async def test_the_batch_answer_is_its_response_model_rendered(api: Api) -> None:
    """The batch writes its JSON itself: it must be what the response model renders."""
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    person = await _person(county)
    items: list[dict[str, Any]] = [
        face(person, EARLIER_TODAY, "rendered-1"),
        face(person, EARLIER_TODAY, "rendered-1"),
        face(person, "2026-06-10T09:30:00.123456+08:00", similarity=0.5),
        {"channel": "face"},
        face(str(uuid.uuid4()), EARLIER_TODAY),
    ]
    response = await mobile.post("/v1/certifications/batch", json={"items": items})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"

    adapter = TypeAdapter(BatchResult)
    model = adapter.validate_json(response.content)
    assert adapter.dump_python(model, mode="json") == response.json()
    assert _statuses(response.json()["results"]) == [201, 200, 201, 422, 404]
    failed = model.results[2].certification
    assert failed is not None and failed.result == "failed"
    single = await mobile.get(f"/v1/certifications/{failed.certification_id}")
    assert single.json() == response.json()["results"][2]["certification"]


# --- ID-key rotation: look-up and replay by ID number ---------------------------------------


async def test_by_id_number_a_certification_finds_and_replays_across_a_key_rotation(
    database: Database, connection: AsyncConnection
) -> None:
    """A recipient registered under key A, certified under A, then retried and certified
    again under B with A kept as previous (docs/security.md, "Key rotation")."""
    number = id_number()
    async with serving(database.settings, database, connection) as before:
        county = await before.new_client(Role.COUNTY, ("1404",))
        mobile = await before.new_client(Role.MOBILE)
        await register(county, number)
        first = await mobile.post("/v1/certifications", json=face_by_number(number, "rot-a"))
        assert first.status_code == 201, first.text

    async with serving(rotated(database), database, connection) as during:
        again = same_client(during, mobile)
        replay = await again.post("/v1/certifications", json=face_by_number(number, "rot-a"))
        assert replay.status_code == 200, replay.text
        assert replay.json()["certification_id"] == first.json()["certification_id"]
        results = await _batch(
            again,
            [face_by_number(number, "rot-a"), face_by_number(number, "rot-b"),
             face_by_number(number, "rot-a", similarity=0.95)],
        )  # fmt: skip
        assert _statuses(results) == [200, 201, 409]
        assert results[1]["certification"]["recipient_id"] == first.json()["recipient_id"]
        await again.aclose()
