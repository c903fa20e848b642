import json
import math
from datetime import date
from typing import Annotated, Any

import pytest
from fastapi import Body, FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.domain.enums import Channel, ManualMode
from app.schemas.channels import (
    DETAILS_MODEL,
    AssistedManualDetails,
    CertificationChannelPart,
    ConsularAppDetails,
    DataMatchDetails,
    EmployerVerifiedManualDetails,
    FaceDetails,
    GrassrootsTerminalDetails,
    GridWorkerVerifiedManualDetails,
    HomeVisitDetails,
    ManualCertificationPart,
    OutOfProvinceOnlineManualDetails,
    OverseasEmbassyFormManualDetails,
    SelfServiceGrassrootsTerminalDetails,
    StaffedGrassrootsTerminalDetails,
    WindowManualDetails,
    details_columns,
    parse_details,
)

FACE = {
    "app": "minsheng_shanxi",
    "provider": "vendor-a",
    "similarity": 0.93,
    "liveness": 0.99,
    "device_id": "dev-001",
    "country": "CN",
    "photo_ref": "oss://photos/2026/03/abc.jpg",
}
CONSULAR = {
    **FACE,
    "app": "china_consular",
    "country": "DE",
    "country_of_residence": "DE",
    "consulate": "中国驻法兰克福总领事馆",
}
MANUAL_COMMON = {"office": "140402", "operator": "op-17"}
WINDOW = {
    **MANUAL_COMMON,
    "mode": "window",
    "commitment_signed": True,
    "photo_ref": "oss://photos/window/1.jpg",
}
GRID_VERIFIED = {**MANUAL_COMMON, "mode": "verified_by_grid_worker", "verifier_id": "gw-3"}
EMPLOYER_VERIFIED = {
    **MANUAL_COMMON,
    "mode": "verified_by_employer",
    "verifier_type": "employer",
    "verifier_id": "emp-9",
    "verified_on": "2026-03-14",
}
OUT_OF_PROVINCE = {**MANUAL_COMMON, "mode": "out_of_province_online", "review_ref": "rev-2026-1"}
EMBASSY_FORM = {
    **MANUAL_COMMON,
    "mode": "overseas_embassy_form",
    "form_serial": "FRA-2026-0042",
    "embassy": "中国驻法国大使馆",
    "brought_by": "employer_staff",
    "bearer_id": "staff-5",
    "document_refs": ["scan://forms/0042.pdf"],
}
ASSISTED = {
    **MANUAL_COMMON,
    "mode": "assisted",
    "assisted_by": "family",
    "assistant_name": "李四",
    "application_ref": "app-77",
}
TERMINAL_STAFFED = {
    "service_point": "村服务点-001",
    "terminal_id": "T-88",
    "credential_type": "social_security_card",
    "mode": "bank_branch",
    "operator": "teller-4",
}
TERMINAL_SELF = {**TERMINAL_STAFFED, "mode": "self_service_terminal", "operator": None}
HOME_VISIT = {
    "request_id": "hv-123",
    "requested_by": "family",
    "visitor_type": "grid_worker",
    "visitor_id": "gw-3",
    "visited_at": "2026-03-15T10:00:00+08:00",
    "photo_ref": "oss://photos/visit/123.jpg",
    "reason": "elderly",
}
DATA_MATCH = {
    "source_department": "medical_insurance",
    "evidence_type": "hospital_settlement",
    "evidence_date": "2026-02-20",
    "batch_id": "hn-2026-02",
    "record_ref": "mi-rec-555",
}

VALID: dict[str, tuple[Channel, dict[str, Any], type[BaseModel]]] = {
    "face": (Channel.FACE, FACE, FaceDetails),
    "consular_app": (Channel.CONSULAR_APP, CONSULAR, ConsularAppDetails),
    "window": (Channel.MANUAL, WINDOW, WindowManualDetails),
    "verified_by_grid_worker": (Channel.MANUAL, GRID_VERIFIED, GridWorkerVerifiedManualDetails),
    "verified_by_employer": (Channel.MANUAL, EMPLOYER_VERIFIED, EmployerVerifiedManualDetails),
    "out_of_province_online": (Channel.MANUAL, OUT_OF_PROVINCE, OutOfProvinceOnlineManualDetails),
    "overseas_embassy_form": (Channel.MANUAL, EMBASSY_FORM, OverseasEmbassyFormManualDetails),
    "assisted": (Channel.MANUAL, ASSISTED, AssistedManualDetails),
    "terminal_staffed": (
        Channel.GRASSROOTS_TERMINAL,
        TERMINAL_STAFFED,
        StaffedGrassrootsTerminalDetails,
    ),
    "terminal_self": (
        Channel.GRASSROOTS_TERMINAL,
        TERMINAL_SELF,
        SelfServiceGrassrootsTerminalDetails,
    ),
    "home_visit": (Channel.HOME_VISIT, HOME_VISIT, HomeVisitDetails),
    "data_match": (Channel.DATA_MATCH, DATA_MATCH, DataMatchDetails),
}


def _without(raw: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if key != field}


def _error_types(channel: Channel, raw: object) -> dict[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as caught:
        parse_details(channel, raw)
    return {tuple(error["loc"]): error["type"] for error in caught.value.errors()}


def test_every_channel_and_manual_mode_has_a_valid_example() -> None:
    assert set(DETAILS_MODEL) == set(Channel)
    assert {channel for channel, _, _ in VALID.values()} == set(Channel)
    assert set(ManualMode) <= set(VALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_details_parse_to_the_channel_model(name: str) -> None:
    channel, raw, model = VALID[name]
    assert type(parse_details(channel, raw)) is model


@pytest.mark.parametrize("name", VALID)
def test_unknown_field_is_rejected(name: str) -> None:
    channel, raw, _ = VALID[name]
    errors = _error_types(channel, {**raw, "simliarity": 0.9})
    assert "extra_forbidden" in errors.values()


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("face", "app"),
        ("face", "similarity"),
        ("face", "liveness"),
        ("face", "device_id"),
        ("face", "country"),
        ("consular_app", "country_of_residence"),
        ("consular_app", "consulate"),
        ("window", "commitment_signed"),
        ("window", "photo_ref"),
        ("window", "office"),
        ("window", "operator"),
        ("verified_by_grid_worker", "verifier_id"),
        ("verified_by_employer", "verifier_id"),
        ("out_of_province_online", "review_ref"),
        ("overseas_embassy_form", "form_serial"),
        ("overseas_embassy_form", "embassy"),
        ("overseas_embassy_form", "brought_by"),
        ("overseas_embassy_form", "bearer_id"),
        ("assisted", "assisted_by"),
        ("terminal_staffed", "service_point"),
        ("terminal_staffed", "terminal_id"),
        ("terminal_staffed", "credential_type"),
        ("terminal_staffed", "mode"),
        ("home_visit", "request_id"),
        ("home_visit", "visitor_type"),
        ("home_visit", "visitor_id"),
        ("home_visit", "visited_at"),
        ("home_visit", "photo_ref"),
        ("data_match", "source_department"),
        ("data_match", "evidence_type"),
        ("data_match", "evidence_date"),
        ("data_match", "batch_id"),
        ("data_match", "record_ref"),
    ],
)
def test_missing_required_evidence_is_rejected(name: str, field: str) -> None:
    channel, raw, _ = VALID[name]
    loc: tuple[str, ...] = (field,)
    # Manual and terminal details are unions discriminated on the mode: locations start with
    # the tag, and without the tag there is no member to name the field of.
    if channel in (Channel.MANUAL, Channel.GRASSROOTS_TERMINAL):
        if field == "mode":
            assert _error_types(channel, _without(raw, field)) == {(): "union_tag_not_found"}
            return
        loc = (raw["mode"], field)
    assert _error_types(channel, _without(raw, field)) == {loc: "missing"}


@pytest.mark.parametrize("score", [1.01, -0.01, math.nan, math.inf, "0.9", True, None])
@pytest.mark.parametrize("field", ["similarity", "liveness"])
def test_scores_must_be_numbers_between_0_and_1(field: str, score: object) -> None:
    assert list(_error_types(Channel.FACE, {**FACE, field: score})) == [(field,)]


def test_scores_accept_the_bounds_and_integers() -> None:
    details = parse_details(Channel.FACE, {**FACE, "similarity": 0, "liveness": 1})
    assert isinstance(details, FaceDetails)
    assert (details.similarity, details.liveness) == (0.0, 1.0)


def test_verifier_type_must_match_the_mode() -> None:
    grid_as_employer = {**GRID_VERIFIED, "verifier_type": "employer"}
    employer_as_grid = {**EMPLOYER_VERIFIED, "verifier_type": "grid_worker"}
    assert _error_types(Channel.MANUAL, grid_as_employer) == {
        ("verified_by_grid_worker", "verifier_type"): "literal_error"
    }
    assert _error_types(Channel.MANUAL, employer_as_grid) == {
        ("verified_by_employer", "verifier_type"): "literal_error"
    }


def test_verifier_type_defaults_to_the_mode() -> None:
    details = parse_details(Channel.MANUAL, GRID_VERIFIED)
    assert isinstance(details, GridWorkerVerifiedManualDetails)
    assert details.verifier_type == "grid_worker"
    assert details.mode is ManualMode.VERIFIED_BY_GRID_WORKER


def test_window_requires_a_signed_commitment_letter() -> None:
    errors = _error_types(Channel.MANUAL, {**WINDOW, "commitment_signed": False})
    assert errors == {("window", "commitment_signed"): "literal_error"}


def test_missing_or_unknown_manual_mode_is_rejected() -> None:
    assert _error_types(Channel.MANUAL, _without(WINDOW, "mode")) == {(): "union_tag_not_found"}
    assert _error_types(Channel.MANUAL, {**WINDOW, "mode": "fax"}) == {(): "union_tag_invalid"}


def test_embassy_form_must_be_brought_by_employer_staff_or_grid_worker() -> None:
    errors = _error_types(Channel.MANUAL, {**EMBASSY_FORM, "brought_by": "family"})
    assert errors == {("overseas_embassy_form", "brought_by"): "literal_error"}


def test_assisted_needs_the_assistant_name_or_id() -> None:
    nameless = _without(ASSISTED, "assistant_name")
    assert _error_types(Channel.MANUAL, nameless) == {("assisted",): "value_error"}
    assert isinstance(
        parse_details(Channel.MANUAL, {**nameless, "assistant_id": "u-1"}), AssistedManualDetails
    )


def test_staffed_grassroots_modes_need_an_operator() -> None:
    staffed_without_operator = {**TERMINAL_STAFFED, "operator": None}
    # The staffed modes' schema requires it, so the error names the field (issue 16 item 10).
    assert _error_types(Channel.GRASSROOTS_TERMINAL, staffed_without_operator) == {
        (TERMINAL_STAFFED["mode"], "operator"): "string_type"
    }
    details = parse_details(Channel.GRASSROOTS_TERMINAL, TERMINAL_SELF)
    assert isinstance(details, GrassrootsTerminalDetails)
    assert details.operator is None


def test_home_visit_time_must_carry_a_timezone() -> None:
    errors = _error_types(Channel.HOME_VISIT, {**HOME_VISIT, "visited_at": "2026-03-15T10:00:00"})
    assert errors == {("visited_at",): "timezone_aware"}


@pytest.mark.parametrize(
    "photo_ref",
    [
        "data:image/jpeg;base64,/9j/4AAQSkZJRg",
        "DATA:image/png,abc",
        "/9j/4AAQSkZJRgABAQAAAQABAAD",
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB",
        "x" * 257,
        "has space",
        "",
    ],
)
def test_photo_ref_is_a_reference_never_an_image(photo_ref: str) -> None:
    assert list(_error_types(Channel.FACE, {**FACE, "photo_ref": photo_ref})) == [("photo_ref",)]


def test_document_refs_are_limited_to_twenty() -> None:
    refs = [f"doc-{n}" for n in range(21)]
    errors = _error_types(Channel.MANUAL, {**EMBASSY_FORM, "document_refs": refs})
    assert errors == {("overseas_embassy_form", "document_refs"): "too_long"}


@pytest.mark.parametrize("country", ["cn", "CHN", "C", "中国"])
def test_country_must_be_an_upper_case_alpha_2_code(country: str) -> None:
    assert _error_types(Channel.FACE, {**FACE, "country": country}) == {
        ("country",): "string_pattern_mismatch"
    }


@pytest.mark.parametrize("app", ["Minsheng_Shanxi", "minsheng shanxi", "x", "12333"])
def test_app_must_be_a_slug(app: str) -> None:
    assert list(_error_types(Channel.FACE, {**FACE, "app": app})) == [("app",)]


def test_face_channel_refuses_the_consular_app() -> None:
    assert _error_types(Channel.FACE, {**FACE, "app": "china_consular"}) == {(): "value_error"}


def test_consular_app_defaults_to_china_consular_and_allows_no_other() -> None:
    details = parse_details(Channel.CONSULAR_APP, _without(CONSULAR, "app"))
    assert isinstance(details, ConsularAppDetails)
    assert details.app == "china_consular"
    errors = _error_types(Channel.CONSULAR_APP, {**CONSULAR, "app": "laolai_jiankang"})
    assert errors == {("app",): "literal_error"}


def test_consular_resident_must_live_outside_china() -> None:
    errors = _error_types(Channel.CONSULAR_APP, {**CONSULAR, "country_of_residence": "CN"})
    assert errors == {(): "value_error"}


def test_strings_are_stripped_and_must_not_be_blank() -> None:
    details = parse_details(Channel.FACE, {**FACE, "device_id": "  dev-001  "})
    assert isinstance(details, FaceDetails)
    assert details.device_id == "dev-001"
    assert _error_types(Channel.FACE, {**FACE, "device_id": "   "}) == {
        ("device_id",): "string_too_short"
    }
    assert _error_types(Channel.FACE, {**FACE, "device_id": "d" * 129}) == {
        ("device_id",): "string_too_long"
    }


def test_control_characters_are_rejected_with_their_own_code() -> None:
    errors = _error_types(Channel.MANUAL, {**WINDOW, "operator": "op\x00-17"})
    assert errors == {("window", "operator"): "invalid_character"}
    # References allowed NUL through their no-whitespace pattern before.
    errors = _error_types(Channel.MANUAL, {**WINDOW, "photo_ref": "photos/\x00"})
    assert errors == {("window", "photo_ref"): "invalid_character"}


def test_details_of_another_channel_are_rejected() -> None:
    assert "extra_forbidden" in _error_types(Channel.FACE, CONSULAR).values()
    consular = parse_details(Channel.CONSULAR_APP, CONSULAR)
    assert _error_types(Channel.FACE, consular) == {(): "model_type"}


def test_details_are_frozen() -> None:
    details = parse_details(Channel.DATA_MATCH, DATA_MATCH)
    assert isinstance(details, DataMatchDetails)
    with pytest.raises(ValidationError):
        details.batch_id = "other"  # type: ignore[misc]


COLUMN_KEYS = {
    "app",
    "device_id",
    "similarity",
    "liveness",
    "office",
    "operator",
    "service_point",
    "terminal_id",
    "source_department",
    "batch_id",
    "home_visit_request_id",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "face",
            {
                "app": "minsheng_shanxi",
                "device_id": "dev-001",
                "similarity": 0.93,
                "liveness": 0.99,
            },
        ),
        (
            "consular_app",
            {"app": "china_consular", "device_id": "dev-001", "similarity": 0.93, "liveness": 0.99},
        ),
        ("window", {"office": "140402", "operator": "op-17"}),
        ("assisted", {"office": "140402", "operator": "op-17"}),
        (
            "terminal_staffed",
            {"service_point": "村服务点-001", "terminal_id": "T-88", "operator": "teller-4"},
        ),
        ("terminal_self", {"service_point": "村服务点-001", "terminal_id": "T-88"}),
        ("home_visit", {"home_visit_request_id": "hv-123"}),
        ("data_match", {"source_department": "medical_insurance", "batch_id": "hn-2026-02"}),
    ],
)
def test_details_columns_fill_what_the_channel_keeps(name: str, expected: dict[str, Any]) -> None:
    channel, raw, _ = VALID[name]
    columns = details_columns(parse_details(channel, raw))
    assert set(columns) == COLUMN_KEYS
    assert {key: value for key, value in columns.items() if value is not None} == expected


def test_data_match_keeps_evidence_date_as_a_date() -> None:
    details = parse_details(Channel.DATA_MATCH, DATA_MATCH)
    assert isinstance(details, DataMatchDetails)
    assert details.evidence_date == date(2026, 2, 20)


PART = TypeAdapter[Any](CertificationChannelPart)


def test_body_part_dispatches_on_channel_and_manual_mode() -> None:
    part = PART.validate_python({"channel": "manual", "details": WINDOW})
    assert isinstance(part, ManualCertificationPart)
    assert isinstance(part.details, WindowManualDetails)


def test_body_part_rejects_details_of_another_channel() -> None:
    with pytest.raises(ValidationError) as caught:
        PART.validate_python({"channel": "face", "details": DATA_MATCH})
    locs = {tuple(error["loc"]) for error in caught.value.errors()}
    assert ("face", "details", "similarity") in locs
    assert ("face", "details", "batch_id") in locs


def test_body_part_rejects_unknown_top_level_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        PART.validate_python({"channel": "face", "details": FACE, "extra": 1})
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_body_part_json_schema_is_a_discriminated_union_of_every_channel() -> None:
    schema = PART.json_schema()
    json.dumps(schema)
    assert set(schema["discriminator"]["mapping"]) == {channel.value for channel in Channel}
    manual_details = schema["$defs"]["ManualCertificationPart"]["properties"]["details"]
    assert set(manual_details["discriminator"]["mapping"]) == {mode.value for mode in ManualMode}
    assert schema["$defs"]["FaceDetails"]["additionalProperties"] is False


@pytest.mark.parametrize("channel", list(Channel))
def test_each_details_model_has_a_json_schema(channel: Channel) -> None:
    json.dumps(DETAILS_MODEL[channel].json_schema())


def test_openapi_document_renders_the_channel_part() -> None:
    app = FastAPI()

    @app.post("/certifications")
    def create(body: Annotated[CertificationChannelPart, Body()]) -> None:
        """Accept a channel part."""

    components = app.openapi()["components"]["schemas"]
    assert {"FaceDetails", "WindowManualDetails", "DataMatchDetails"} <= set(components)
