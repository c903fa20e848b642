"""Least privilege per role (OWASP API1/API5): every operation of the OpenAPI document, called
by every role, answers 403 `forbidden_role` exactly where API.md does not give the role it.

The expectations are written here from API.md's role table, not read from app/access.py, so
that a change to the table that the contract does not allow fails this test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.routing import APIRouter

from app import access
from app.access import AccessTableError
from app.deps import get_principal, get_reading_call
from app.domain.enums import Role
from app.main import create_app
from app.settings import Settings
from tests.conftest import Api

Operation = tuple[str, str]

PUBLIC: set[Operation] = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
ELIGIBILITY = ("GET", "/v1/recipients/{recipient_id}/eligibility")
POSTING: set[Operation] = {
    ("POST", "/v1/certifications"),
    ("POST", "/v1/certifications/batch"),
    # Reading back a record one posted (a re-sent source_ref answers the same record).
    ("GET", "/v1/certifications/{certification_id}"),
}
# API.md, "Conventions": what each role "may", beside what everyone may (PUBLIC).
GIVEN: dict[Role, set[Operation]] = {
    # "post face and consular_app certifications for anyone; read eligibility"
    Role.MOBILE: {*POSTING, ELIGIBILITY},
    # "eligibility reads, batch checks, payment runs"
    Role.PAYMENT: {
        ELIGIBILITY,
        ("POST", "/v1/eligibility/check"),
        ("POST", "/v1/payment-runs"),
        ("GET", "/v1/payment-runs/{run_id}"),
        ("GET", "/v1/payment-runs/{run_id}/items"),
    },
    # "post data_match certifications and suspected-loss stop reports, in its regions"
    Role.DATA_EXCHANGE: {*POSTING, ("POST", "/v1/stop-reports")},
    # "register recipients, revoke, stop reports, verification cases, home-visit requests,
    # reminders, stats; ... look up recipients and post manual, grassroots_terminal,
    # home_visit certifications" (resumption steps and post-checks close verification work;
    # outreach and risk signals are reporting beside reminders and stats; webhooks carry the
    # reminders and status changes of its regions)
    Role.COUNTY: {
        *POSTING,
        ("POST", "/v1/recipients"),
        ("POST", "/v1/recipients/lookup"),
        ("GET", "/v1/recipients/{recipient_id}"),
        ("PATCH", "/v1/recipients/{recipient_id}"),
        ("POST", "/v1/recipients/{recipient_id}/benefits/{benefit_id}/approval"),
        ("GET", "/v1/recipients/{recipient_id}/certifications"),
        ("POST", "/v1/certifications/{certification_id}/revoke"),
        ("POST", "/v1/stop-reports"),
        ("POST", "/v1/recipients/{recipient_id}/commitments"),
        ("POST", "/v1/recipients/{recipient_id}/employer-verifications"),
        ("POST", "/v1/recipients/{recipient_id}/continuations"),
        ("GET", "/v1/post-checks"),
        ("GET", "/v1/verification-cases"),
        ("GET", "/v1/verification-cases/{case_id}"),
        ("POST", "/v1/verification-cases/{case_id}/contacts"),
        ("POST", "/v1/verification-cases/{case_id}/resolution"),
        ("GET", "/v1/reminders"),
        ("GET", "/v1/stats"),
        ("GET", "/v1/outreach"),
        ("GET", "/v1/risk-signals"),
        ("POST", "/v1/home-visit-requests"),
        ("GET", "/v1/home-visit-requests"),
        ("GET", "/v1/home-visit-requests/{request_id}"),
        ("POST", "/v1/home-visit-requests/{request_id}/assignment"),
        ("POST", "/v1/home-visit-requests/{request_id}/outcome"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{webhook_id}"),
        ("DELETE", "/v1/webhooks/{webhook_id}"),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
    },
}
REGIONS = {Role.COUNTY: ("1404",), Role.DATA_EXCHANGE: ("1404",)}


def operations(api: Api) -> dict[Operation, str]:
    document: dict[str, Any] = api.fastapi.openapi()
    return {
        (method.upper(), path): operation["operationId"]
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def concrete(path: str) -> str:
    """The path with a fresh UUID for every parameter: nothing is found, nothing is touched."""
    parts = [str(uuid.uuid4()) if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


def test_the_expectations_name_only_operations_the_service_serves(api: Api) -> None:
    served = set(operations(api))
    for role, given in GIVEN.items():
        assert given <= served, (role, sorted(given - served))
    assert served >= PUBLIC


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
async def test_every_operation_answers_403_exactly_where_api_md_gives_the_role_nothing(
    api: Api, role: Role
) -> None:
    client = await api.new_client(role, REGIONS.get(role, ()))
    wrong: list[str] = []
    refused: list[Operation] = []
    for (method, path), operation_id in sorted(operations(api).items()):
        body: dict[str, Any] | None = {} if method in {"POST", "PATCH"} else None
        response = await client.request(method, concrete(path), json=body)
        may = role is Role.ADMIN or (method, path) in PUBLIC | GIVEN[role]
        if may:
            if response.status_code in {401, 403} or response.status_code >= 500:
                wrong.append(f"{method} {path} ({operation_id}): {response.status_code}")
            continue
        problem = response.json() if response.status_code == 403 else {}
        if (
            response.status_code != 403
            or problem.get("code") != "forbidden_role"
            or not response.headers["content-type"].startswith("application/problem+json")
        ):
            wrong.append(f"{method} {path} ({operation_id}): {response.status_code} {problem}")
        refused.append((method, path))
    assert wrong == []
    # Each non-admin role is refused most of the service: it must not pass by accident.
    assert (len(refused) == 0) is (role is Role.ADMIN)


def test_the_access_table_is_the_same_as_the_expectations(api: Api) -> None:
    """app/access.py and API.md agree entry by entry (the walk above proves it on the wire)."""
    for (method, path), operation_id in operations(api).items():
        roles = access.OPERATIONS[operation_id]
        if (method, path) in PUBLIC:
            assert roles is None, operation_id
            continue
        assert roles is not None, operation_id
        expected = {Role.ADMIN} | {role for role, given in GIVEN.items() if (method, path) in given}
        assert set(roles) == expected, operation_id


def _settings() -> Settings:
    return Settings(id_hmac_key="A" * 43 + "=", id_encryption_key="B" * 43 + "=")


def test_the_app_refuses_to_start_when_a_route_is_missing_from_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = dict(access.OPERATIONS)
    del table["get_stats_v1_stats_get"]
    monkeypatch.setattr(access, "OPERATIONS", table)
    with pytest.raises(AccessTableError, match="get_stats_v1_stats_get is not in"):
        create_app(_settings())


def test_the_app_refuses_to_start_when_the_table_names_a_route_it_does_not_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = {**access.OPERATIONS, "drop_everything_v1_everything_delete": access.ADMIN_ONLY}
    monkeypatch.setattr(access, "OPERATIONS", table)
    with pytest.raises(AccessTableError, match="drop_everything_v1_everything_delete"):
        create_app(_settings())


def test_a_route_that_needs_a_role_but_does_not_authenticate_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = APIRouter()

    @router.get("/v1/open-door")
    async def open_door() -> dict[str, str]:
        return {}

    app = create_app(_settings())
    app.include_router(router)
    table = {**access.OPERATIONS, "open_door_v1_open_door_get": access.COUNTY_WORK}
    monkeypatch.setattr(access, "OPERATIONS", table)
    with pytest.raises(AccessTableError) as refused:
        access.verify_routes(app.routes, guards=(get_principal, get_reading_call))
    assert (
        str(refused.value)
        == "route open_door_v1_open_door_get needs a role but does not authenticate"
    )
