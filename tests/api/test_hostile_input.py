"""Hostile text and dates (issue 15, item 5): NUL and other control characters in any string,
dates at the ends of the calendar, in every input the app's own OpenAPI document describes.

The fields and parameters are walked from ``app.openapi()``, not listed here, so a field added
later is covered without anyone remembering to add it. The requests go to the real app on both
databases: a NUL that slipped past the schema would be a 500 on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from app.domain.enums import Role
from app.domain.id_numbers import check_character
from app.schemas.common import (
    EARLIEST_DAY,
    LATEST_DAY,
    LINE_PATTERN,
    MONTH_PATTERN,
    NON_BLANK,
    PROSE_PATTERN,
)
from tests.conftest import Api
from tests.factories import face, recipient

NUL = "a\x00b"
# Codes a refused string may carry: its own type's (an ID number, a phone...) or the generic
# one of a value outside an enum, a UUID or a date; never internal_error.
STABLE_CODES = {
    "invalid_character",
    "invalid_id_number",
    "invalid_agency_code",
    "invalid_phone",
    "invalid_month",
    "invalid_cursor",
    "validation_error",
}
# Free text, whose only rule is the character set: refused with exactly invalid_character.
TEXT_PATTERNS = {LINE_PATTERN, PROSE_PATTERN, r"^\S+$", *NON_BLANK.values()}
OUT_OF_RANGE_DAYS = ("0001-01-01", "9999-12-31")
OUT_OF_RANGE_INSTANTS = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00")
OUT_OF_RANGE_MONTHS = ("0001-01", "9999-12")
# Values for the required query parameters besides the one a case is about.
QUERY_DEFAULTS = {"agency_code": "14", "month": "2026-06"}

Spec = dict[str, Any]
Build = Callable[[Any], Any]


@dataclass(frozen=True)
class Leaf:
    """A string somewhere in a request body: how to build a body holding a value there."""

    build: Build
    names: tuple[str, ...]
    schema: Spec


def _resolve(spec: Spec, schema: Spec) -> Spec:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _leaves(spec: Spec, schema: Spec, skip: frozenset[str] = frozenset()) -> Iterator[Leaf]:
    schema = _resolve(spec, schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        discriminator = schema.get("discriminator")
        if discriminator:
            tag_name = discriminator["propertyName"]
            for tag, ref in discriminator["mapping"].items():
                for leaf in _leaves(spec, {"$ref": ref}, frozenset({tag_name})):
                    yield Leaf(_tagged(leaf.build, tag_name, tag), leaf.names, leaf.schema)
        else:
            for branch in branches:
                if _resolve(spec, branch).get("type") != "null":
                    yield from _leaves(spec, branch)
    elif schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            if name in skip:
                continue  # a discriminator: the branch's own tag is set instead
            for leaf in _leaves(spec, sub):
                yield Leaf(_under(leaf.build, name), (name, *leaf.names), leaf.schema)
    elif schema.get("type") == "array":
        for leaf in _leaves(spec, schema["items"]):
            yield Leaf(_in_list(leaf.build), leaf.names, leaf.schema)
    elif schema.get("type") == "string":
        yield Leaf(lambda value: value, (), schema)


def _tagged(build: Build, tag_name: str, tag: str) -> Build:
    return lambda value: {**build(value), tag_name: tag}


def _under(build: Build, name: str) -> Build:
    return lambda value: {name: build(value)}


def _in_list(build: Build) -> Build:
    return lambda value: [build(value)]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: Spec

    def url(self, **values: str) -> str:
        """The path, with the given path parameters and a fresh UUID for the others."""
        url = self.path
        for parameter in self.spec.get("parameters", []):
            if parameter["in"] == "path":
                value = values.get(parameter["name"], str(uuid.uuid4()))
                url = url.replace("{" + parameter["name"] + "}", value)
        return url

    def query(self, **values: str) -> dict[str, str]:
        required = {
            parameter["name"]: QUERY_DEFAULTS.get(parameter["name"], "x")
            for parameter in self.spec.get("parameters", [])
            if parameter["in"] == "query" and parameter.get("required")
        }
        return {**required, **values}

    def body_schema(self) -> Spec | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema: Spec | None = content.get("application/json", {}).get("schema")
        return schema

    def query_parameters(self, api_spec: Spec) -> Iterator[tuple[str, Spec]]:
        for parameter in self.spec.get("parameters", []):
            if parameter["in"] == "query":
                schema = _resolve(api_spec, parameter["schema"])
                branches = [
                    _resolve(api_spec, branch)
                    for branch in schema.get("anyOf", [schema])
                    if _resolve(api_spec, branch).get("type") != "null"
                ]
                yield parameter["name"], branches[0]


def _operations(spec: Spec) -> list[Operation]:
    return [
        Operation(method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if path.startswith("/v1/")
    ]


def _body_leaves(spec: Spec) -> list[tuple[Operation, Leaf]]:
    found: list[tuple[Operation, Leaf]] = []
    for operation in _operations(spec):
        schema = operation.body_schema()
        if schema is not None:
            found.extend((operation, leaf) for leaf in _leaves(spec, schema))
    return found


def _is_text(schema: Spec) -> bool:
    return schema.get("pattern") in TEXT_PATTERNS and "format" not in schema


def _mentions(error: Spec, names: tuple[str, ...]) -> bool:
    """The error's location holds the field's names in order (union tags may sit between)."""
    remaining = iter(part for part in error["loc"] if isinstance(part, str))
    return all(name in remaining for name in names)


async def _send(client: httpx.AsyncClient, operation: Operation, body: Any) -> httpx.Response:
    return await client.request(
        operation.method, operation.url(), params=operation.query(), json=body
    )


async def test_every_string_of_every_request_body_is_constrained_and_refuses_nul(
    api: Api,
) -> None:
    spec = api.fastapi.openapi()
    client = await api.new_client(Role.ADMIN)
    leaves = _body_leaves(spec)
    assert len(leaves) > 80  # the walk reaches into every body, union branches included
    unconstrained = [
        (operation.path, leaf.names)
        for operation, leaf in leaves
        if not {"enum", "const", "format", "pattern"} & leaf.schema.keys()
    ]
    assert unconstrained == []  # every string says in the document what it may hold
    failures = []
    for operation, leaf in leaves:
        response = await _send(client, operation, leaf.build(NUL))
        problem = response.json()
        expected = {"invalid_character"} if _is_text(leaf.schema) else STABLE_CODES
        located = any(_mentions(error, leaf.names) for error in problem.get("errors", []))
        if response.status_code != 422 or problem["code"] not in expected or not located:
            failures.append((operation.method, operation.path, leaf.names, problem))
    assert failures == []


async def test_nul_in_a_batch_item_refuses_that_item_alone(api: Api) -> None:
    spec = api.fastapi.openapi()
    client = await api.new_client(Role.ADMIN)
    single = next(op for op in _operations(spec) if op.path == "/v1/certifications")
    body_schema = single.body_schema()
    assert body_schema is not None
    texts = [leaf for leaf in _leaves(spec, body_schema) if _is_text(leaf.schema)]
    assert len(texts) > 20
    response = await client.post(
        "/v1/certifications/batch", json={"items": [leaf.build(NUL) for leaf in texts]}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [result["status"] for result in results] == [422] * len(texts)
    assert {result["problem"]["code"] for result in results} == {"invalid_character"}


async def test_text_fields_refuse_other_control_characters_but_prose_keeps_line_breaks(
    api: Api,
) -> None:
    client = await api.new_client(Role.COUNTY, ("1404",))
    # An escape sequence, a line break in a one-line field, an unpaired surrogate (no UTF-8
    # can hold it: json.dumps sends it escaped, as a hostile client would), DEL.
    for name in ("王\x1b[31m秀英", "王\n秀英", "\ud800", "a\x7fb"):
        response = await client.post(
            "/v1/recipients",
            content=json.dumps({**recipient(), "name": name}),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, name
        assert response.json()["code"] == "invalid_character"
    registered = await client.post("/v1/recipients", json=recipient())
    assert registered.status_code == 201
    case_free_note = await client.post(
        f"/v1/recipients/{registered.json()['recipient_id']}/commitments",
        json={"signed_on": "2026-01-05", "document_ref": "doc\x00"},
    )
    assert case_free_note.json()["code"] == "invalid_character"
    stop = await client.post(
        "/v1/stop-reports",
        json={
            "recipient_id": registered.json()["recipient_id"],
            "reason": "imprisonment",
            "occurred_on": "2026-01-05",
            "reported_by": "agency",
            "note": "first line\r\nsecond line\twith a tab",
        },
    )
    assert stop.status_code == 201, stop.text


async def test_nul_in_every_query_parameter_is_a_422_with_a_stable_code(api: Api) -> None:
    spec = api.fastapi.openapi()
    client = await api.new_client(Role.ADMIN)
    tried, failures = 0, []
    for operation in _operations(spec):
        for name, schema in operation.query_parameters(spec):
            if schema.get("type") != "string":
                continue
            tried += 1
            response = await client.request(
                operation.method, operation.url(), params=operation.query(**{name: NUL})
            )
            code = response.json().get("code")
            if response.status_code != 422 or code not in STABLE_CODES:
                failures.append((operation.method, operation.path, name, response.status_code))
    assert tried > 20
    assert failures == []


def _date_cases(schema: Spec) -> tuple[str, ...]:
    if schema.get("format") == "date":
        return OUT_OF_RANGE_DAYS
    if schema.get("format") == "date-time":
        return OUT_OF_RANGE_INSTANTS
    if schema.get("pattern") == MONTH_PATTERN:
        return OUT_OF_RANGE_MONTHS
    return ()


async def test_every_date_query_parameter_refuses_the_ends_of_the_calendar(api: Api) -> None:
    spec = api.fastapi.openapi()
    client = await api.new_client(Role.ADMIN)
    tried, failures = set(), []
    for operation in _operations(spec):
        for name, schema in operation.query_parameters(spec):
            for value in _date_cases(schema):
                tried.add((operation.path, name))
                response = await client.request(
                    operation.method, operation.url(), params=operation.query(**{name: value})
                )
                if response.status_code != 422 or response.json()["code"] != "date_out_of_range":
                    failures.append((operation.path, name, value, response.status_code))
    # stats, reminders, outreach, risk signals, post-checks, eligibility, audit log at least
    assert len(tried) >= 7
    assert failures == []


async def test_every_date_query_parameter_answers_at_the_bounds_without_a_server_error(
    api: Api,
) -> None:
    """The bounds themselves must be safe: a date just inside them reaches the services."""
    spec = api.fastapi.openapi()
    client = await api.new_client(Role.ADMIN)
    registered = await (await api.new_client(Role.COUNTY, ("1404",))).post(
        "/v1/recipients", json=recipient()
    )
    recipient_id = registered.json()["recipient_id"]
    inside = {
        "date": (EARLIEST_DAY.isoformat(), LATEST_DAY.isoformat()),
        "date-time": ("1900-01-01T00:00:00+00:00", "2099-12-31T23:59:59+00:00"),
    }
    failures = []
    for operation in _operations(spec):
        if operation.method != "GET":
            continue
        for name, schema in operation.query_parameters(spec):
            for value in inside.get(schema.get("format", ""), ()):
                response = await client.get(
                    operation.url(recipient_id=recipient_id),
                    params=operation.query(**{name: value}),
                )
                if response.status_code >= 500:
                    failures.append((operation.path, name, value, response.text[:200]))
    assert failures == []


async def test_every_date_in_a_request_body_refuses_the_ends_of_the_calendar(api: Api) -> None:
    spec = api.fastapi.openapi()
    client = await api.new_client(Role.ADMIN)
    tried, failures = 0, []
    for operation, leaf in _body_leaves(spec):
        for value in _date_cases(leaf.schema):
            tried += 1
            response = await _send(client, operation, leaf.build(value))
            if response.status_code != 422 or response.json()["code"] != "date_out_of_range":
                failures.append((operation.path, leaf.names, value, response.json()))
    assert tried > 30
    assert failures == []


async def test_an_idempotency_key_with_control_characters_is_refused(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    registered = await county.post("/v1/recipients", json=recipient())
    body = face(registered.json()["recipient_id"], "2026-12-01T09:00:00+08:00", source_ref=None)
    del body["source_ref"]
    # h11 and other servers refuse NUL in a header; \x7f reaches the app.
    response = await mobile.post(
        "/v1/certifications", json=body, headers={"Idempotency-Key": "key\x7f1"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_character"


# Arabic-Indic and full-width digits: str.isdigit() and Python's \d take them as digits.
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _foreign_digits_id(table: dict[int, int]) -> str:
    """An ID number whose check character is right for its digits' values."""
    first17 = "14040219500101123"
    return first17.translate(table) + check_character(first17)


async def test_digits_of_other_scripts_are_not_digits_in_codes_ids_and_phones(api: Api) -> None:
    county = await api.new_client(Role.COUNTY, ("1404",))
    for table in (_ARABIC_INDIC, _FULL_WIDTH):
        cases = {
            "invalid_id_number": recipient(_foreign_digits_id(table)),
            "invalid_agency_code": recipient(
                benefits=[
                    {**recipient()["benefits"][0], "agency_code": "1" + "40402".translate(table)}
                ]
            ),
            "invalid_phone": recipient(phone="138" + "00000000".translate(table)),
        }
        for code, body in cases.items():
            response = await county.post("/v1/recipients", json=body)
            assert response.status_code == 422, code
            assert response.json()["code"] == code
    stats = await county.get("/v1/stats", params={"agency_code": "1" + "4".translate(_FULL_WIDTH)})
    assert stats.json()["code"] == "invalid_agency_code"
