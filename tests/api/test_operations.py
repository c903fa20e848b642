"""Health, readiness, metrics and the error shapes, including a database that is down."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.domain.enums import Role
from app.main import create_app
from tests.conftest import Api, make_settings, with_lifespan_state
from tests.factories import id_number, recipient


async def test_healthz_and_readyz_report_ok_at_the_newest_migration(api: Api) -> None:
    client = await api.new_client(Role.ADMIN)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["migration"] == ready.json()["expected_migration"]


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    client = await api.new_client(Role.ADMIN)
    await client.get("/v1/recipients/01a20911-3a3f-7be8-853d-868634976169")
    text = (await client.get("/metrics")).text
    assert 'route="/v1/recipients/{recipient_id}",status="404"' in text
    assert "certsvc_http_request_duration_seconds_bucket" in text
    assert "01a20911" not in text


async def test_unknown_routes_and_methods_are_problem_documents(api: Api) -> None:
    client = await api.new_client(Role.ADMIN)
    missing = await client.get("/v1/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    wrong_method = await client.delete("/v1/recipients/lookup")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_malformed_json_is_a_422_problem(api: Api) -> None:
    client = await api.new_client(Role.COUNTY, ("1404",))
    response = await client.post(
        "/v1/recipients", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_bodies_over_the_limit_are_refused_with_413(api: Api) -> None:
    client = await api.new_client(Role.COUNTY, ("1404",))
    huge = b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/v1/recipients", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def _answer_of_a_route_that_raises(tmp_path: Path, failure: Exception) -> httpx.Response:
    """What a client gets from the service's handlers when a route raises ``failure``."""
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    app: FastAPI = create_app(settings)

    @app.get("/failing")
    async def failing() -> None:
        raise failure

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/failing")


async def test_an_unexpected_failure_is_a_500_that_leaks_nothing(tmp_path: Path) -> None:
    failure = RuntimeError("secret internals 140402195001011237")
    response = await _answer_of_a_route_that_raises(tmp_path, failure)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret" not in response.text
    assert "Traceback" not in response.text


async def test_a_database_that_is_down_gives_503_quickly_and_readyz_false(
    tmp_path: Path,
) -> None:
    # A port nothing listens on: connections are refused at once.
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    settings = make_settings(tmp_path, url, db_connect_timeout_seconds=2)
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=with_lifespan_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            started = time.monotonic()
            response = await client.post(
                "/v1/recipients/lookup",
                json={"id_number": id_number()},
                headers={"Authorization": "Bearer csk_anything"},
            )
            elapsed = time.monotonic() - started
            ready = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "5"
    assert elapsed < 5
    assert ready.status_code == 503
    assert ready.json()["ready"] is False


async def test_the_id_number_never_reaches_the_logs(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    number = id_number()
    with caplog.at_level(logging.DEBUG):
        await county.post("/v1/recipients", json=recipient(number))
        await county.post("/v1/recipients/lookup", json={"id_number": number})
        await county.post("/v1/recipients", json=recipient(number[:-1] + "0"))
    assert caplog.records, "the access log should have written lines"
    logged = "\n".join(record.getMessage() + str(vars(record)) for record in caplog.records)
    assert number not in logged
    assert number[:-1] not in logged


async def test_a_client_over_its_rate_gets_429_with_retry_after(api: Api) -> None:
    client = await api.new_client(Role.COUNTY, ("1404",))
    api.fastapi.state.rate_limiter.rates = {Role.COUNTY: 1.0}
    statuses = [
        (await client.post("/v1/recipients/lookup", json={"id_number": id_number()})).status_code
        for _ in range(4)
    ]
    assert statuses[:2] == [404, 404]  # the burst (2 s of the rate)
    refused = await client.post("/v1/recipients/lookup", json={"id_number": id_number()})
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


async def test_an_exhausted_connection_pool_is_a_503_not_a_500(tmp_path: Path) -> None:
    """Found by the mixed-load benchmark: SQLAlchemy's pool timeout is its own TimeoutError."""
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    failure = PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached")
    response = await _answer_of_a_route_that_raises(tmp_path, failure)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "5"
