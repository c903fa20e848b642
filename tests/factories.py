"""Small factories for request bodies and valid ID numbers."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from app.domain.id_numbers import check_character

_serial = itertools.count(1)
_FIRST_BIRTH = date(1950, 1, 1)


def id_number(region: str = "140402", birth: str | None = None) -> str:
    """A fresh, valid ID number, distinct per call within a run. The serial has 1000 values,
    so without ``birth`` the birth date moves on a day every 1000 calls, from 1950-01-01 (a
    fixed date once made a test that posts thousands of numbers reuse a registered one)."""
    serial = next(_serial)
    if birth is None:
        birth = f"{_FIRST_BIRTH + timedelta(days=serial // 1000):%Y%m%d}"
    first17 = f"{region}{birth}{serial % 1000:03d}"
    return first17 + check_character(first17)


def with_wrong_check(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def benefit(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "benefit_type": "work_injury_dependent",
        "agency_code": "140402",
        "start_date": "2019-05-01",
        "approved": True,
        "external_ref": "PAY-000123",
        "funeral_subsidy_area": True,
    }
    body.update(overrides)
    return body


def recipient(number: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id_number": number or id_number(),
        "name": "王秀英",
        "phone": "13800000000",
        "residence": "in_province",
        "emergency_contacts": 1,
        "benefits": [benefit()],
    }
    body.update(overrides)
    return body


def face(
    recipient_id: str, occurred_at: str, source_ref: str | None = None, **details: Any
) -> dict[str, Any]:
    """A passing face certification from the 民生山西 app."""
    body: dict[str, Any] = {
        "recipient_id": recipient_id,
        "channel": "face",
        "result": "passed",
        "occurred_at": occurred_at,
        "source_ref": source_ref or f"msx-{next(_serial)}",
        "details": {
            "app": "minsheng_shanxi",
            "provider": "vendor-a",
            "similarity": 0.93,
            "liveness": 0.99,
            "device_id": "device-1",
            "country": "CN",
            "photo_ref": "photos/abc",
        },
    }
    body["details"].update(details)
    return body


# --- certifications: one complete, valid ``details`` per channel and mode ------------------
# Every optional field is given, so what the service stores must equal what was sent.


def certification(
    recipient_id: str,
    channel: str,
    details: dict[str, Any],
    occurred_at: str = "2026-06-10T09:00:00+08:00",
    source_ref: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A passing certification of any channel, with a fresh source_ref."""
    body: dict[str, Any] = {
        "recipient_id": recipient_id,
        "channel": channel,
        "result": "passed",
        "occurred_at": occurred_at,
        "source_ref": source_ref or f"{channel}-{next(_serial)}",
        "details": details,
    }
    body.update(overrides)
    return body


def hunan_window(recipient_id: str, occurred_at: str, source_ref: str) -> dict[str, Any]:
    """人工认证 at a Changsha (430102) window with the commitment signed, as a Hunan recipient
    withheld for long months needs it to be paid again."""
    details = {
        "mode": "window",
        "office": "430102",
        "operator": "op-1",
        "commitment_signed": True,
        "photo_ref": "photos/x",
    }
    return certification(recipient_id, "manual", details, occurred_at, source_ref)


def face_details(**overrides: Any) -> dict[str, Any]:
    """刷脸认证 in the 民生山西 app, well above both policies' thresholds."""
    details: dict[str, Any] = {
        "app": "minsheng_shanxi",
        "provider": "vendor-a",
        "similarity": 0.93,
        "liveness": 0.99,
        "device_id": "device-1",
        "country": "CN",
        "photo_ref": "photos/abc",
    }
    details.update(overrides)
    return details


def consular_details(**overrides: Any) -> dict[str, Any]:
    """Face recognition in the 中国领事 app by a recipient living in Germany."""
    details: dict[str, Any] = {
        "app": "china_consular",
        "provider": "vendor-b",
        "similarity": 0.91,
        "liveness": 0.97,
        "device_id": "device-de-1",
        "country": "DE",
        "photo_ref": "photos/consular/1",
        "country_of_residence": "DE",
        "consulate": "中国驻法兰克福总领事馆",
    }
    details.update(overrides)
    return details


_MANUAL_EVIDENCE: dict[str, dict[str, Any]] = {
    "window": {"commitment_signed": True},
    "verified_by_grid_worker": {
        "verifier_id": "grid-12",
        "verified_on": "2026-06-08",
        "verifier_type": "grid_worker",
    },
    "verified_by_employer": {
        "verifier_id": "hr-3",
        "verified_on": "2026-06-07",
        "verifier_type": "employer",
    },
    "out_of_province_online": {"review_ref": "reviews/2026/77"},
    "overseas_embassy_form": {
        "form_serial": "JW-2026-0001",
        "embassy": "中国驻德国大使馆",
        "brought_by": "employer_staff",
        "bearer_id": "emp-5",
    },
    "assisted": {
        "assisted_by": "family",
        "assistant_name": "李娟",
        "assistant_id": "fam-1",
        "application_ref": "applications/9",
    },
}
MANUAL_MODES = tuple(_MANUAL_EVIDENCE)


def manual_details(mode: str = "window", **overrides: Any) -> dict[str, Any]:
    """人工认证 in the given mode, with the evidence that mode keeps."""
    details: dict[str, Any] = {
        "mode": mode,
        "office": "140402",
        "operator": "op-7",
        "photo_ref": "photos/2026/06/10/abc",
        "document_refs": ["documents/commitment-1"],
        **_MANUAL_EVIDENCE[mode],
    }
    details.update(overrides)
    return details


TERMINAL_MODES = ("service_point_staff", "self_service_terminal", "bank_branch")


def terminal_details(mode: str = "service_point_staff", **overrides: Any) -> dict[str, Any]:
    """基层服务点认证; a self-service terminal has no operator."""
    details: dict[str, Any] = {
        "service_point": "东街社区服务站",
        "terminal_id": "T-0042",
        "credential_type": "social_security_card",
        "mode": mode,
        "operator": None if mode == "self_service_terminal" else "staff-3",
    }
    details.update(overrides)
    return details


def home_visit_details(**overrides: Any) -> dict[str, Any]:
    """上门服务认证 answering a family's request."""
    details: dict[str, Any] = {
        "request_id": "hv-1",
        "requested_by": "family",
        "visitor_type": "grid_worker",
        "visitor_id": "grid-12",
        "visited_at": "2026-06-09T15:00:00+08:00",
        "photo_ref": "photos/visits/1",
        "reason": "elderly",
    }
    details.update(overrides)
    return details


def data_match_details(**overrides: Any) -> dict[str, Any]:
    """信息比对 (Hunan): a hospital settlement found in medical-insurance data."""
    details: dict[str, Any] = {
        "source_department": "medical_insurance",
        "evidence_type": "hospital_settlement",
        "evidence_date": "2026-06-10",
        "batch_id": "dm-2026-06-10",
        "record_ref": "mi/settlements/123",
    }
    details.update(overrides)
    return details


def details_for(channel: str) -> dict[str, Any]:
    """One valid details object for each channel (manual: window; terminal: staffed)."""
    makers = {
        "face": face_details,
        "consular_app": consular_details,
        "manual": manual_details,
        "grassroots_terminal": terminal_details,
        "home_visit": home_visit_details,
        "data_match": data_match_details,
    }
    return makers[channel]()
