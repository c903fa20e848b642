"""API keys that expire (OWASP API2) and the limit on failed authentication per source address
(API2, API4), including the address behind a trusted proxy."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.auth import Principal, PrincipalCache
from app.db.base import utcnow
from app.db.models import ApiClient
from app.domain.enums import Role
from app.errors import Unprocessable
from app.ratelimit import AuthFailureLimiter
from app.services.accounts.clients import create_client, key_digest
from tests.conftest import Api


def _from(api: Api, address: str, key: str | None = None, app: object = None) -> httpx.AsyncClient:
    """A client whose requests come from ``address``, as the server sees it."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app or api.app, client=(address, 40000)),  # type: ignore[arg-type]
        base_url="http://test",
        headers=headers,
    )


async def _new_key(connection: AsyncConnection, role: Role = Role.ADMIN) -> str:
    async with (
        AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session,
        session.begin(),
    ):
        _, key = await create_client(
            session, f"auth-{uuid.uuid4().hex[:8]}", role, (), utcnow() + timedelta(days=30)
        )
    return key


async def _expire(connection: AsyncConnection, key: str) -> None:
    async with (
        AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session,
        session.begin(),
    ):
        await session.execute(
            update(ApiClient)
            .where(ApiClient.key_digest == key_digest(key))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


async def test_a_key_works_until_its_expiry_then_answers_401_api_key_expired(
    api: Api, connection: AsyncConnection
) -> None:
    key = await _new_key(connection)
    async with _from(api, "203.0.113.7", key) as client:
        assert (await client.get("/v1/webhooks")).status_code == 200
        await _expire(connection, key)
        api.fastapi.state.principal_cache = PrincipalCache()  # past the cache's few seconds
        response = await client.get("/v1/webhooks")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "api_key_expired"


async def test_a_cached_key_is_refused_from_its_expiry_without_a_database_look_up(
    api: Api,
) -> None:
    key = "csk_" + "x" * 43
    expired = Principal(uuid.uuid4(), "cached", Role.ADMIN, (), utcnow() - timedelta(seconds=1))
    api.fastapi.state.principal_cache.put(key_digest(key), expired)
    async with _from(api, "203.0.113.7", key) as client:
        response = await client.get("/v1/webhooks")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


async def test_a_key_cannot_be_created_already_expired(api: Api, session: AsyncSession) -> None:
    with pytest.raises(Unprocessable, match="in the future"):
        await create_client(session, "late", Role.PAYMENT, (), utcnow() - timedelta(seconds=1))


async def test_failed_authentication_is_limited_per_source_address(
    api: Api, connection: AsyncConnection
) -> None:
    api.fastapi.state.auth_failures = AuthFailureLimiter(limit=3, window=60.0)
    valid = await _new_key(connection)
    async with _from(api, "203.0.113.7", "csk_guess") as guesser:
        for _ in range(3):
            assert (await guesser.get("/v1/webhooks")).status_code == 401
        refused = await guesser.get("/v1/webhooks")
        assert refused.status_code == 429
        assert refused.json()["code"] == "auth_failures_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        # Refused before any key is looked at: a right guess from there is refused too.
        guesser.headers["Authorization"] = f"Bearer {valid}"
        assert (await guesser.get("/v1/webhooks")).status_code == 429
        del guesser.headers["Authorization"]
        assert (await guesser.get("/v1/webhooks")).status_code == 429
    async with _from(api, "198.51.100.20", valid) as elsewhere:
        assert (await elsewhere.get("/v1/webhooks")).status_code == 200


async def test_expired_and_missing_keys_count_as_failures(
    api: Api, connection: AsyncConnection
) -> None:
    api.fastapi.state.auth_failures = AuthFailureLimiter(limit=2, window=60.0)
    key = await _new_key(connection)
    await _expire(connection, key)
    async with _from(api, "203.0.113.8", key) as client:
        assert (await client.get("/v1/webhooks")).json()["code"] == "api_key_expired"
        del client.headers["Authorization"]
        assert (await client.get("/v1/webhooks")).status_code == 401
        assert (await client.get("/v1/webhooks")).status_code == 429


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_limited(
    api: Api, connection: AsyncConnection
) -> None:
    """What `certsvc serve --forwarded-allow-ips 10.0.0.5` sets up: uvicorn's proxy-headers
    middleware replaces the proxy's address by the client's from X-Forwarded-For."""
    api.fastapi.state.auth_failures = AuthFailureLimiter(limit=2, window=60.0)
    valid = await _new_key(connection)
    proxied = ProxyHeadersMiddleware(api.app, trusted_hosts="10.0.0.5")
    async with _from(api, "10.0.0.5", "csk_guess", app=proxied) as proxy:
        proxy.headers["X-Forwarded-For"] = "203.0.113.9"
        for _ in range(2):
            assert (await proxy.get("/v1/webhooks")).status_code == 401
        assert (await proxy.get("/v1/webhooks")).status_code == 429
        # Another client behind the same proxy is not locked out by the guesser.
        proxy.headers["X-Forwarded-For"] = "198.51.100.30"
        proxy.headers["Authorization"] = f"Bearer {valid}"
        assert (await proxy.get("/v1/webhooks")).status_code == 200
    # An untrusted peer's X-Forwarded-For is ignored: its own address is the one counted.
    async with _from(api, "192.0.2.50", "csk_guess", app=proxied) as untrusted:
        untrusted.headers["X-Forwarded-For"] = "198.51.100.31"
        for _ in range(2):
            assert (await untrusted.get("/v1/webhooks")).status_code == 401
        assert (await untrusted.get("/v1/webhooks")).status_code == 429
    async with _from(api, "198.51.100.31", valid) as real:
        assert (await real.get("/v1/webhooks")).status_code == 200
