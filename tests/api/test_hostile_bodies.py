"""Hostile bodies and the published patterns (issue 15, item 6): a streamed body over the
limit, a JSON object naming a key twice, and the patterns of the ID number, agency code, phone
and cursor in the OpenAPI document."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from app.domain.enums import Role
from app.main import create_app
from app.schemas.common import CURSOR_PATTERN, ID_NUMBER_PATTERN
from tests.conftest import Api, make_settings
from tests.factories import face, id_number, recipient

OPENAPI_YAML = Path(__file__).resolve().parents[2] / "openapi.yaml"
LIST_OPERATIONS_WITH_CURSOR = (
    "/v1/audit-log",
    "/v1/verification-cases",
    "/v1/recipients/{recipient_id}/certifications",
    "/v1/webhooks",
    "/v1/reminders",
    "/v1/outreach",
    "/v1/home-visit-requests",
)


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b'{"name": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


async def test_a_chunked_body_over_the_limit_is_413_not_a_parse_error(api: Api) -> None:
    client = await api.new_client(Role.COUNTY, ("1404",))
    # No Content-Length: the size is only known once the chunks have arrived.
    response = await client.post(
        "/v1/recipients",
        content=_chunks(6 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"


async def test_a_chunked_body_within_the_limit_reaches_the_app_whole(api: Api) -> None:
    client = await api.new_client(Role.COUNTY, ("1404",))
    payload = _json_bytes(recipient())

    async def in_pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 7):
            yield payload[start : start + 7]

    response = await client.post(
        "/v1/recipients", content=in_pieces(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


async def test_a_key_named_twice_in_any_object_is_refused(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    number = id_number()
    top = _json_bytes(recipient(number))[:-1] + b', "name": "\xe6\x9d\x8e\xe5\x9b\x9b"}'
    nested = _json_bytes(recipient(number)).replace(
        b'"agency_code": "140402"', b'"agency_code": "140402", "agency_code": "140421"'
    )
    # Escaped differently, the same key: JSON compares the decoded names.
    escaped = _json_bytes(recipient(number)).replace(
        b'"residence": "in_province"', b'"residence": "in_province", "resid\\u0065nce": "overseas"'
    )
    for body in (top, nested, escaped):
        response = await county.post(
            "/v1/recipients", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, body[:80]
        problem = response.json()
        assert problem["code"] == "duplicate_json_key"
        assert problem["errors"][0]["loc"] == ["body"]
    registered = await county.post("/v1/recipients", json=recipient(number))
    assert registered.status_code == 201  # nothing was written by the refused ones
    assert registered.json()["name"] == "王秀英"

    deep = _json_bytes(face(registered.json()["recipient_id"], "2026-12-01T09:00:00+08:00"))
    deep = deep.replace(b'"similarity": 0.93', b'"similarity": 0.1, "similarity": 0.93')
    response = await mobile.post(
        "/v1/certifications", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "duplicate_json_key"
    # The same key in sibling objects is no duplicate.
    two = recipient(
        id_number(),
        benefits=[
            {**recipient()["benefits"][0], "benefit_type": "work_injury_dependent"},
            {**recipient()["benefits"][0], "benefit_type": "work_injury_nursing"},
        ],
    )
    assert (await county.post("/v1/recipients", json=two)).status_code == 201


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    branches: list[dict[str, Any]] = schema.get("anyOf", [schema])
    for branch in branches:
        if branch.get("type") == "string":
            return branch
    raise AssertionError(schema)


def _check_patterns(spec: dict[str, Any]) -> None:
    schemas = _schemas(spec)
    id_pattern = schemas["RecipientCreate"]["properties"]["id_number"]["pattern"]
    assert id_pattern == ID_NUMBER_PATTERN
    assert re.fullmatch(id_pattern, "140402195001011237")
    assert re.fullmatch(id_pattern, "14040219500101123X")
    assert not re.fullmatch(id_pattern, "1404021950010112")
    agency = schemas["BenefitIn"]["properties"]["agency_code"]["pattern"]
    assert re.fullmatch(agency, "140402") and not re.fullmatch(agency, "1404")
    region = _string_branch(schemas["PaymentRunCreate"]["properties"]["agency_code"])["pattern"]
    assert all(re.fullmatch(region, code) for code in ("14", "1404", "140402"))
    assert not re.fullmatch(region, "140")
    phone = _string_branch(schemas["RecipientCreate"]["properties"]["phone"])["pattern"]
    assert all(re.fullmatch(phone, p) for p in ("13800000000", "0351-1234567", "+85212345678"))
    assert not re.fullmatch(phone, "12345")
    for path in LIST_OPERATIONS_WITH_CURSOR:
        parameters = spec["paths"][path]["get"]["parameters"]
        cursor = next(p for p in parameters if p["name"] == "cursor")
        assert _string_branch(cursor["schema"])["pattern"] == CURSOR_PATTERN, path


def test_the_openapi_document_publishes_the_patterns_of_ids_codes_phones_and_cursors(
    tmp_path: Path,
) -> None:
    app = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    _check_patterns(app.openapi())
    _check_patterns(yaml.safe_load(OPENAPI_YAML.read_text(encoding="utf-8")))


async def test_an_issued_cursor_matches_its_published_pattern_and_a_forged_one_is_refused(
    api: Api,
) -> None:
    admin = await api.new_client(Role.ADMIN)
    county = await api.new_client(Role.COUNTY, ("1404",))
    for _ in range(3):
        await county.post("/v1/recipients", json=recipient())
    page = await admin.get("/v1/audit-log", params={"limit": 1})
    cursor = page.json()["next_cursor"]
    assert cursor is not None and re.fullmatch(CURSOR_PATTERN, cursor)
    assert (await admin.get("/v1/audit-log", params={"cursor": cursor})).status_code == 200
    forged = await admin.get("/v1/audit-log", params={"cursor": "a b/c"})
    assert forged.status_code == 422
    assert forged.json()["code"] == "invalid_cursor"
