"""Contract fuzzing: Schemathesis generates requests for every operation of the app's own
OpenAPI document, sent with each role's key. No response may be a server error, and every
response must match the document (status code, content type, headers, body schema).

Hypothesis only generates the cases here (derandomized, so CI sends the same requests on every
run); they go through the ``api`` fixture's client, which runs the app with its lifespan state
and rolls back whatever they write after the test.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.domain.enums import Role
from tests.conftest import Api, Database

# Cases per operation, role and mode: some 45 operations x 5 roles x 2 modes x 6 cases keeps a
# run to under three thousand requests per database (about a minute).
MAX_EXAMPLES = 6
# Positive cases match the document; negative ones break it (wrong types, missing fields,
# bodies that are not JSON) and must still get a documented 4xx, never a 500.
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]

ROLES: list[tuple[Role, tuple[str, ...]]] = [
    (Role.ADMIN, ()),
    (Role.COUNTY, ("1404",)),
    (Role.MOBILE, ()),
    (Role.PAYMENT, ()),
    (Role.DATA_EXCHANGE, ("14",)),
]

# Valid months now reach a payment run, which claims its work in transactions of its own
# (app/db/runs/claims.py) that SQLite cannot begin while the test's outer transaction holds the
# write lock; on SQLite runs are tested with a committed database (tests/api/test_payments_api.py).
NOT_ON_SQLITE = frozenset({"post_payment_run_v1_payment_runs_post"})

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _generate(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """Draw one operation's cases up front: Hypothesis cannot drive an async test."""
    cases: list[Any] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Any) -> None:
        cases.append(case)

    # Negative mode, for an operation with nothing to make invalid (no parameters, no body).
    with contextlib.suppress(Unsatisfiable):
        collect()
    return cases


def _request(case: Any, authorization: str) -> dict[str, Any]:
    """The case as httpx keyword arguments (Schemathesis serializes for ``requests``)."""
    kwargs: dict[str, Any] = case.as_transport_kwargs(
        base_url="http://test", headers={"Authorization": authorization}
    )
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers"),
        "params": kwargs.get("params"),
    }
    if kwargs.get("cookies"):
        request["cookies"] = kwargs["cookies"]
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, str | bytes):
        request["content"] = data
    elif data is not None:
        request["data"] = data
    if kwargs.get("files"):
        request["files"] = kwargs["files"]
    return request


@pytest.mark.parametrize(("role", "regions"), ROLES, ids=[role.value for role, _ in ROLES])
async def test_every_operation_keeps_its_contract(
    api: Api, database: Database, role: Role, regions: tuple[str, ...]
) -> None:
    # Thousands of requests from one client in a few seconds: with the limits on, every
    # operation after the first few would answer 429 and go untested.
    api.fastapi.state.rate_limiter.rates = {}
    client = await api.new_client(role, regions)
    authorization = client.headers["Authorization"]
    schema = schemathesis.openapi.from_dict(api.fastapi.openapi())
    failures: list[str] = []
    details: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1
        operation_id = operation.definition.raw.get("operationId")
        if database.backend == "sqlite" and operation_id in NOT_ON_SQLITE:
            continue
        for mode in MODES:
            for case in _generate(operation.as_strategy(generation_mode=mode)):
                request = _request(case, authorization)
                try:
                    response = await client.request(**request)
                except Exception as exc:  # the app raised: a server would have answered 500
                    failures.append(f"{operation.label} -> {exc!r}")
                    details.append(f"{exc!r} for {request}")
                    continue
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as exc:
                    kinds = ", ".join(sorted({type(f).__name__ for f in exc.exceptions}))
                    failures.append(f"{operation.label} -> {response.status_code}: {kinds}")
                    details.append(str(exc))
    assert operations > 40
    assert not failures, "\n".join(sorted(set(failures))) + "\n\nFirst:\n" + "\n".join(details[:3])


async def test_a_body_that_is_not_utf8_is_a_documented_422(api: Api) -> None:
    """Found by the fuzzing: FastAPI answered an undocumented 400 for such a body."""
    client = await api.new_client(Role.ADMIN)
    response = await client.post(
        "/v1/recipients", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
