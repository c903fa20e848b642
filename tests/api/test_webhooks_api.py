"""Webhook subscriptions over HTTP: roles, validation, regions, the secret kept secret, and the
outbox's fan-out of an event to the subscribed webhooks in region."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.models import Webhook, WebhookDelivery
from app.domain.enums import Role
from app.protection import IdProtector
from app.services.notices.outbox import EventType, emit
from tests.conftest import Api
from tests.factories import recipient

NOW = "2026-06-10T10:00:00+08:00"
SECRET = "s3cret-Value-0123456789"


def _hook(url: str = "https://county.example.cn/hook", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "events": ["suspended", "resumed"], "secret": SECRET}
    body.update(overrides)
    return body


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json=_hook(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _person(county: httpx.AsyncClient) -> str:
    response = await county.post("/v1/recipients", json=recipient())
    assert response.status_code == 201, response.text
    recipient_id: str = response.json()["recipient_id"]
    return recipient_id


async def _emit(
    connection: AsyncConnection,
    event_type: EventType,
    recipient_id: str,
    agency_code: str = "140402",
    key: str | None = None,
) -> None:
    """Emit as a status change would: in a transaction of its own (nested in the test's)."""
    async with (
        AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session,
        session.begin(),
    ):
        await emit(
            session,
            event_type,
            uuid.UUID(recipient_id),
            None,
            agency_code,
            {"status": event_type.value},
            key or f"test:{uuid.uuid4()}",
            datetime.fromisoformat(NOW),
        )


async def _deliveries(client: httpx.AsyncClient, webhook_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_a_county_subscribes_lists_reads_and_deletes_its_webhook(api: Api) -> None:
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.post(
        "/v1/webhooks", json=_hook(events=["resumed", "suspended", "resumed"])
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert SECRET not in response.text and "secret" not in created
    assert created["url"] == "https://county.example.cn/hook"
    assert created["events"] == ["suspended", "resumed"]  # once each, in a stable order
    assert created["regions"] == ["1404"]
    assert datetime.fromisoformat(created["created_at"]) == datetime.fromisoformat(NOW)
    hook_id = created["webhook_id"]

    listed = await county.get("/v1/webhooks")
    assert listed.status_code == 200
    assert listed.json() == {"items": [created], "next_cursor": None}
    fetched = await county.get(f"/v1/webhooks/{hook_id}")
    assert fetched.status_code == 200 and fetched.json() == created
    assert SECRET not in listed.text + fetched.text

    deleted = await county.delete(f"/v1/webhooks/{hook_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await county.get(f"/v1/webhooks/{hook_id}")).status_code == 404
    assert (await county.get("/v1/webhooks")).json()["items"] == []
    again = await county.delete(f"/v1/webhooks/{hook_id}")
    assert (again.status_code, again.json()["code"]) == (404, "not_found")


async def test_the_secret_is_stored_encrypted(
    api: Api, connection: AsyncConnection, protector: IdProtector
) -> None:
    api.set_now(NOW)
    admin = await api.new_client(Role.ADMIN)
    hook_id = (await _create(admin))["webhook_id"]
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        stored = await session.get_one(Webhook, uuid.UUID(hook_id))
    assert SECRET.encode() not in stored.secret_ciphertext
    assert protector.decrypt(stored.secret_ciphertext) == SECRET


async def test_an_admin_webhook_covers_every_region_and_an_admin_sees_every_webhook(
    api: Api,
) -> None:
    api.set_now(NOW)
    admin = await api.new_client(Role.ADMIN)
    county = await api.new_client(Role.COUNTY, ("1405", "1404"))
    other = await api.new_client(Role.COUNTY, ("1401",))
    admins = await _create(admin)
    counties = await _create(county)
    assert admins["regions"] == []
    assert counties["regions"] == ["1404", "1405"]

    everything = (await admin.get("/v1/webhooks")).json()["items"]
    assert [item["webhook_id"] for item in everything] == [
        admins["webhook_id"],
        counties["webhook_id"],
    ]
    assert (await other.get("/v1/webhooks")).json()["items"] == []
    # Another client's webhook is not found, not forbidden: its id reveals nothing.
    hook = counties["webhook_id"]
    for response in (
        await other.get(f"/v1/webhooks/{hook}"),
        await other.delete(f"/v1/webhooks/{hook}"),
        await other.get(f"/v1/webhooks/{hook}/deliveries"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    # The admin may read and delete anyone's.
    assert (await admin.get(f"/v1/webhooks/{hook}")).status_code == 200
    assert (await admin.delete(f"/v1/webhooks/{hook}")).status_code == 204


async def test_webhooks_are_listed_page_by_page(api: Api) -> None:
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    created = [(await _create(county))["webhook_id"] for _ in range(3)]
    first = (await county.get("/v1/webhooks", params={"limit": 2})).json()
    assert [item["webhook_id"] for item in first["items"]] == created[:2]
    second = (
        await county.get("/v1/webhooks", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [item["webhook_id"] for item in second["items"]] == created[2:]
    assert second["next_cursor"] is None
    for params in ({"limit": 501}, {"limit": 0}, {"cursor": "not-a-cursor"}):
        response = await county.get("/v1/webhooks", params=params)
        assert response.status_code == 422, params


@pytest.mark.parametrize("role", [Role.MOBILE, Role.DATA_EXCHANGE, Role.PAYMENT])
async def test_other_roles_may_not_subscribe_or_look(api: Api, role: Role) -> None:
    regions = ("1404",) if role is Role.DATA_EXCHANGE else ()
    client = await api.new_client(role, regions)
    for response in (
        await client.post("/v1/webhooks", json=_hook()),
        await client.get("/v1/webhooks"),
        await client.get(f"/v1/webhooks/{uuid.uuid4()}"),
        await client.post(f"/v1/webhooks/deliveries/{uuid.uuid4()}/retry"),
    ):
        assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")


async def test_no_api_key_is_401(api: Api) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app), base_url="http://test"
    ) as anonymous:
        response = await anonymous.post("/v1/webhooks", json=_hook())
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://county.example.cn/hook"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "county.example.cn/hook"}, "url"),
        ({"url": "http:///no-host"}, "url"),
        ({"url": "https://county.example.cn:99999/hook"}, "url"),
        ({"url": "https://county.example.cn/a b"}, "url"),
        ({"url": "https://county.example.cn/" + "a" * 2000}, "url"),
        ({"events": []}, "events"),
        ({"events": ["paid"]}, "events"),
        ({"secret": "too-short"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"secret": " sixteen-or-more-chars"}, "secret"),
        ({"secret": "密钥密钥密钥密钥密钥密钥密钥密钥"}, "secret"),
        ({"owner": "someone"}, "owner"),
    ],
)
async def test_invalid_subscriptions_are_refused(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    admin = await api.new_client(Role.ADMIN)
    response = await admin.post("/v1/webhooks", json=_hook(**overrides))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert any(error["loc"][:2] == ["body", field] for error in problem["errors"]), problem
    assert SECRET not in response.text


async def test_the_longest_url_and_secret_are_accepted(api: Api) -> None:
    admin = await api.new_client(Role.ADMIN)
    url = "https://county.example.cn/" + "a" * (2000 - len("https://county.example.cn/"))
    created = await _create(admin, url=url, secret="x" * 256, events=list(EventType))
    assert created["url"] == url
    assert created["events"] == [event.value for event in EventType]


async def test_an_event_reaches_the_subscribed_webhooks_in_region_only(
    api: Api, connection: AsyncConnection
) -> None:
    api.set_now(NOW)
    admin = await api.new_client(Role.ADMIN)
    taiyuan = await api.new_client(Role.COUNTY, ("1401",))
    changzhi = await api.new_client(Role.COUNTY, ("1404",))
    in_region = await _create(changzhi, events=["suspended"])
    wrong_event = await _create(changzhi, events=["due_soon"])
    out_of_region = await _create(taiyuan, events=["suspended"])
    everywhere = await _create(admin, events=["suspended", "certified"])
    removed = await _create(changzhi, events=["suspended"])
    assert (await changzhi.delete(f"/v1/webhooks/{removed['webhook_id']}")).status_code == 204

    person = await _person(changzhi)
    await _emit(connection, EventType.SUSPENDED, person, "140402")

    counts = {
        name: len((await _deliveries(admin, hook["webhook_id"]))["items"])
        for name, hook in {
            "in_region": in_region,
            "wrong_event": wrong_event,
            "out_of_region": out_of_region,
            "everywhere": everywhere,
        }.items()
    }
    assert counts == {"in_region": 1, "wrong_event": 0, "out_of_region": 0, "everywhere": 1}
    (delivery,) = (await _deliveries(changzhi, in_region["webhook_id"]))["items"]
    assert delivery["webhook_id"] == in_region["webhook_id"]
    assert delivery["event_type"] == "suspended"
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)
    assert delivery["last_error"] is None and delivery["delivered_at"] is None
    assert datetime.fromisoformat(delivery["next_attempt_at"]) == datetime.fromisoformat(NOW)

    # An event recorded twice (the same dedupe key) is delivered once.
    await _emit(connection, EventType.CERTIFIED, person, key="certified:once")
    await _emit(connection, EventType.CERTIFIED, person, key="certified:once")
    assert len((await _deliveries(admin, everywhere["webhook_id"]))["items"]) == 2


async def test_deliveries_are_listed_newest_first_page_by_page_and_by_status(
    api: Api, connection: AsyncConnection
) -> None:
    api.set_now(NOW)
    county = await api.new_client(Role.COUNTY, ("1404",))
    hook = (await _create(county))["webhook_id"]
    person = await _person(county)
    for _ in range(3):
        await _emit(connection, EventType.RESUMED, person)
    first = await _deliveries(county, hook, limit=2)
    second = await _deliveries(county, hook, limit=2, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    ids = [item["delivery_id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 3
    assert ids == sorted(ids, reverse=True)  # ids are time-ordered: newest first
    assert (await _deliveries(county, hook, status="delivered"))["items"] == []
    assert len((await _deliveries(county, hook, status="pending"))["items"]) == 3
    for params in ({"limit": 501}, {"status": "lost"}, {"cursor": "bm9wZQ"}):
        response = await county.get(f"/v1/webhooks/{hook}/deliveries", params=params)
        assert response.status_code == 422, params


async def _set_status(connection: AsyncConnection, delivery_id: str, **values: Any) -> None:
    async with (
        AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session,
        session.begin(),
    ):
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(delivery_id))
            .values(**values)
        )


async def test_an_admin_re_drives_a_parked_delivery(api: Api, connection: AsyncConnection) -> None:
    api.set_now(NOW)
    admin = await api.new_client(Role.ADMIN)
    county = await api.new_client(Role.COUNTY, ("1404",))
    hook = (await _create(county))["webhook_id"]
    await _emit(connection, EventType.SUSPENDED, await _person(county))
    delivery_id = (await _deliveries(county, hook))["items"][0]["delivery_id"]
    await _set_status(connection, delivery_id, status="parked", attempts=8, last_error="HTTP 500")

    refused = await county.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
    missing = await admin.post(f"/v1/webhooks/deliveries/{uuid.uuid4()}/retry")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    later = "2026-06-11T08:00:00+08:00"
    api.set_now(later)
    response = await admin.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")
    assert response.status_code == 200, response.text
    retried = response.json()
    assert (retried["status"], retried["attempts"], retried["last_error"]) == (
        "pending",
        8,
        "HTTP 500",
    )
    assert datetime.fromisoformat(retried["next_attempt_at"]) == datetime.fromisoformat(later)
    # A pending delivery may be re-driven too (made due now).
    assert (await admin.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")).status_code == 200

    await _set_status(connection, delivery_id, status="delivered")
    done = await admin.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")
    assert (done.status_code, done.json()["code"]) == (409, "delivery_not_retryable")


async def test_deleting_a_webhook_cancels_its_unsent_deliveries_and_stops_new_ones(
    api: Api, connection: AsyncConnection
) -> None:
    api.set_now(NOW)
    admin = await api.new_client(Role.ADMIN)
    county = await api.new_client(Role.COUNTY, ("1404",))
    hook = (await _create(county))["webhook_id"]
    person = await _person(county)
    for _ in range(3):
        await _emit(connection, EventType.SUSPENDED, person)
    pending, parked, delivered = (
        item["delivery_id"] for item in (await _deliveries(county, hook))["items"]
    )
    await _set_status(connection, parked, status="parked")
    await _set_status(connection, delivered, status="delivered")

    assert (await county.delete(f"/v1/webhooks/{hook}")).status_code == 204
    await _emit(connection, EventType.SUSPENDED, person)

    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        rows = {
            str(row.id): row
            for row in await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.webhook_id == uuid.UUID(hook))
            )
        }
    assert set(rows) == {pending, parked, delivered}  # nothing new for the deleted webhook
    assert {key: row.status for key, row in rows.items()} == {
        pending: "cancelled",
        parked: "cancelled",
        delivered: "delivered",
    }
    assert rows[pending].last_error == "cancelled: the webhook was deleted"
    for delivery_id in (pending, parked):
        response = await admin.post(f"/v1/webhooks/deliveries/{delivery_id}/retry")
        assert (response.status_code, response.json()["code"]) == (409, "delivery_not_retryable")
