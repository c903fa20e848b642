"""Reusable annotated types and the page envelope."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.domain.id_numbers import InvalidIdNumber, normalize_id_number
from app.domain.months import Month
from app.domain.regions import AGENCY_CODE, REGION_PREFIX

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\+\d{6,15})$")


def _id_number(value: str) -> str:
    try:
        return normalize_id_number(value)
    except InvalidIdNumber as exc:
        # A custom error type becomes the problem's `code`; the message never holds the number.
        raise PydanticCustomError("invalid_id_number", str(exc)) from None


def _agency_code(value: str) -> str:
    if not AGENCY_CODE.match(value):
        raise PydanticCustomError("invalid_agency_code", "an agency code is 6 digits (GB/T 2260)")
    return value


def _region_prefix(value: str) -> str:
    if not REGION_PREFIX.match(value):
        raise PydanticCustomError(
            "invalid_agency_code", "a region is a 2, 4 or 6 digit division-code prefix"
        )
    return value


def _month(value: str) -> str:
    try:
        Month.parse(value)
    except ValueError:
        raise PydanticCustomError("invalid_month", "a month is written YYYY-MM") from None
    return value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise PydanticCustomError(
            "invalid_phone", "a phone is a mainland mobile, a landline with area code, or +country"
        )
    return value


IdNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(_id_number),
    Field(description="18-character resident ID number (GB 11643); never echoed back unmasked"),
]
AgencyCode = Annotated[
    str, AfterValidator(_agency_code), Field(description="6-digit division code (GB/T 2260)")
]
RegionPrefix = Annotated[
    str, AfterValidator(_region_prefix), Field(description="division-code prefix: 14, 1404, 140402")
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20), AfterValidator(_phone)
]
MonthText = Annotated[str, AfterValidator(_month), Field(description="a month, YYYY-MM")]
Day = date

T = TypeVar("T")


class InputModel(BaseModel):
    """Inputs forbid unknown fields, so a typo is an error rather than silently dropped data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
