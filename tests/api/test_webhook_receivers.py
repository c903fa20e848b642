"""Where a webhook receiver may be (OWASP API7): not at this host's own addresses, not at a
refused address, and never with credentials in its URL, which are not echoed back either."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.models import Webhook
from app.domain.enums import Role
from app.services.notices.egress import local_addresses
from app.settings import DEFAULT_REFUSED_NETWORKS
from tests.conftest import Api

SECRET = "s3cret-Value-0123456789"
PASSWORD = "Hunter2-Pass"


def _hook(url: str) -> dict[str, Any]:
    return {"url": url, "events": ["suspended"], "secret": SECRET}


def _own_address_in_an_allowed_network() -> str:
    """One of this host's interface addresses that no refused network covers (the address a
    receiver URL would use to reach the host's own services)."""
    refused = [ipaddress.ip_network(network) for network in DEFAULT_REFUSED_NETWORKS]
    for address in sorted(local_addresses(), key=str):
        if not any(address in network for network in refused):
            return f"[{address}]" if address.version == 6 else str(address)
    pytest.skip("this host has no interface address outside the refused networks")


@pytest.mark.parametrize(
    "url",
    [
        f"https://hook-user:{PASSWORD}@county.example.cn/hook",
        f"https://{PASSWORD}@county.example.cn/hook",  # a token as the user name
        f"https://hook-user:{PASSWORD}@county.example.cn:8443/hook",
        f"https://:{PASSWORD}@county.example.cn/hook",
    ],
)
async def test_a_receiver_url_with_credentials_is_refused_and_never_echoed(
    api: Api, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    with caplog.at_level(logging.DEBUG):
        response = await county.post("/v1/webhooks", json=_hook(url))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "webhook_url_credentials"
    assert problem["errors"][0]["loc"] == ["body", "url"]
    assert PASSWORD not in response.text and "hook-user" not in response.text
    assert not [
        r for r in caplog.records if PASSWORD in r.getMessage() or PASSWORD in str(r.__dict__)
    ]
    listed = await county.get("/v1/webhooks")
    assert listed.json()["items"] == []  # nothing written


async def test_a_receiver_at_one_of_this_hosts_own_addresses_is_refused(api: Api) -> None:
    host = _own_address_in_an_allowed_network()
    county = await api.new_client(Role.COUNTY, ("1404",))
    response = await county.post("/v1/webhooks", json=_hook(f"http://{host}:8000/hook"))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "webhook_receiver_refused"
    assert "own addresses" in problem["detail"]
    assert host.strip("[]") not in problem["detail"]
    assert (await county.get("/v1/webhooks")).json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook",  # a name resolving to loopback
        "http://127.0.0.1:5432/",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.100.100.200/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
async def test_a_receiver_at_a_refused_address_is_refused_at_creation(api: Api, url: str) -> None:
    admin = await api.new_client(Role.ADMIN)
    response = await admin.post("/v1/webhooks", json=_hook(url))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_receiver_refused"


async def test_a_receiver_whose_name_does_not_resolve_yet_is_accepted(api: Api) -> None:
    """The worker checks before every attempt; the API cannot know the receiver's future DNS."""
    admin = await api.new_client(Role.ADMIN)
    response = await admin.post("/v1/webhooks", json=_hook("https://not-yet.invalid/hook"))
    assert response.status_code == 201, response.text


async def test_credentials_stored_before_the_rule_are_never_shown(
    api: Api, connection: AsyncConnection
) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    created = await county.post("/v1/webhooks", json=_hook("https://county.example.cn/hook"))
    assert created.status_code == 201, created.text
    webhook_id = created.json()["webhook_id"]
    async with (
        AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session,
        session.begin(),
    ):
        await session.execute(
            update(Webhook)
            .where(Webhook.url == "https://county.example.cn/hook")
            .values(url=f"https://hook-user:{PASSWORD}@county.example.cn/hook")
        )
    for response in (
        await county.get(f"/v1/webhooks/{webhook_id}"),
        await county.get("/v1/webhooks"),
    ):
        assert response.status_code == 200, response.text
        assert PASSWORD not in response.text and "hook-user" not in response.text
        assert "https://county.example.cn/hook" in response.text


@pytest.mark.parametrize("host", ["Þ¦³Ö¥", "*)ĉĊö", "ÉĔ©😍"])
async def test_a_receiver_host_that_is_no_valid_host_name_is_a_422_not_a_server_error(
    api: Api, host: str
) -> None:
    """Found by the contract fuzz: httpx cannot send to a host that is not valid IDNA, and
    checking the receiver's address raised from inside the service."""
    admin = await api.new_client(Role.ADMIN)
    response = await admin.post("/v1/webhooks", json=_hook(f"https://{host}/hook"))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
