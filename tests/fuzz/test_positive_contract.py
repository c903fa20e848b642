"""Positive contract data: every body, query and path the OpenAPI document calls valid gets
past validation. Schemathesis generates schema-valid requests for every operation (a fixed
number each, derandomized, so CI sends the same requests every run), sent with an admin key and
with one other role the access table lets call it. No answer may be a server error, and a 422
must be a business refusal: a `code` that docs/ documents and the schema cannot state (a
cursor this service did not issue, an agency no policy covers, a date before the ID number's
birth date). A 422 `validation_error` or a code of something the schema states (a pattern, a
range, a conditional requirement) means the document promised more than the server takes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.core.result import Ok

from app.access import OPERATIONS
from app.domain.enums import Role
from tests.conftest import Api, Database

# At most MAX_EXAMPLES cases per operation, drawn once and sent with each role.
from tests.fuzz.test_contract_fuzz import MAX_EXAMPLES, _generate, _request

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Refusals of what the schema states: a positive case must never get one of these.
SCHEMA_CODES = frozenset(
    {
        "validation_error",
        "invalid_character",
        "date_out_of_range",
        "invalid_month",
        "invalid_id_number",
        "invalid_agency_code",
        "invalid_phone",
        "duplicate_json_key",
        "webhook_url_credentials",
    }
)
REGIONS = {Role.COUNTY: ("1404",), Role.DATA_EXCHANGE: ("14",)}
OTHER_ROLES = (Role.COUNTY, Role.MOBILE, Role.PAYMENT, Role.DATA_EXCHANGE)
# A payment run claims its work in transactions of its own (app/db/runs/claims.py), which
# SQLite cannot begin while the test's outer transaction holds the write lock: on SQLite the
# run is tested with a committed database (tests/api/test_payments_api.py), not here.
NOT_ON_SQLITE = frozenset({"post_payment_run_v1_payment_runs_post"})


def documented_codes() -> frozenset[str]:
    """Every `snake_case` name the docs write in backticks: the codes they document are
    among them (names of fields too, which no problem answers with)."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md")))
    return frozenset(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", text))


BUSINESS_CODES = documented_codes() - SCHEMA_CODES


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId"))


def _roles_for(operation_id: str) -> list[Role]:
    """Admin, and the first other role that may call the operation (public ones: admin)."""
    allowed = OPERATIONS.get(operation_id) or frozenset()
    return [Role.ADMIN, *[role for role in OTHER_ROLES if role in allowed][:1]]


def _refusal(response: Any) -> str | None:
    """What is wrong with the answer to a schema-valid request, if anything."""
    if response.status_code >= 500:
        return f"{response.status_code}"
    if response.status_code != 422:
        return None
    code = response.json().get("code")
    if code in BUSINESS_CODES:
        return None
    errors = [error.get("msg") for error in response.json().get("errors", [])]
    return f"422 {code} {errors[:2]}"


async def test_every_schema_valid_request_passes_validation(api: Api, database: Database) -> None:
    """Issue 16 item 10: "A grassroots_terminal certification in mode service_point_staff
    without operator is valid under openapi.yaml and refused with 422": every conditional
    requirement the server enforces is stated in the document."""
    api.fastapi.state.rate_limiter.rates = {}
    authorization = {}
    for role in (Role.ADMIN, *OTHER_ROLES):
        client = await api.new_client(role, REGIONS.get(role, ()))
        authorization[role] = client
    schema = schemathesis.openapi.from_dict(api.fastapi.openapi())
    failures: set[str] = set()
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1
        if database.backend == "sqlite" and _operation_id(operation) in NOT_ON_SQLITE:
            continue
        mode = schemathesis.GenerationMode.POSITIVE
        strategy = operation.as_strategy(generation_mode=mode)
        cases = _generate(strategy)
        assert len(cases) <= MAX_EXAMPLES
        for role in _roles_for(_operation_id(operation)):
            client = authorization[role]
            for case in cases:
                request = _request(case, client.headers["Authorization"])
                response = await client.request(**request)
                problem = _refusal(response)
                if problem is not None:
                    failures.add(f"{operation.label} as {role.value} -> {problem}")
    assert operations > 40
    assert not failures, "\n".join(sorted(failures))


def test_the_business_codes_include_the_refusals_the_schema_cannot_state() -> None:
    """The list is read from docs/: these must be documented there (a business refusal that
    loses its line in the docs fails the positive test instead of passing silently)."""
    for code in ("invalid_cursor", "no_policy_for_agency", "before_birth", "channel_not_accepted"):
        assert code in BUSINESS_CODES
    assert not SCHEMA_CODES & BUSINESS_CODES


@pytest.mark.parametrize("mode", ["service_point_staff", "bank_branch"])
def test_the_document_states_that_staffed_terminals_name_the_operator(api: Api, mode: str) -> None:
    """The case the issue found, by reading the document itself."""
    document = api.fastapi.openapi()
    schemas = document["components"]["schemas"]
    staffed = schemas["StaffedGrassrootsTerminalDetails"]
    assert mode in staffed["properties"]["mode"]["enum"]
    assert "operator" in staffed["required"]
    assert "operator" not in schemas["SelfServiceGrassrootsTerminalDetails"].get("required", [])
