"""Small factories for request bodies and valid ID numbers."""

from __future__ import annotations

import itertools
from typing import Any

from app.domain.id_numbers import check_character

_serial = itertools.count(1)


def id_number(region: str = "140402", birth: str = "19500101") -> str:
    """A fresh, valid ID number (distinct per call within a run)."""
    first17 = f"{region}{birth}{next(_serial) % 1000:03d}"
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
