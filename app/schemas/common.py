"""Reusable annotated types and the page envelope."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from app.domain.id_numbers import InvalidIdNumber, birth_date_of, normalize_id_number
from app.domain.months import Month
from app.domain.regions import AGENCY_CODE, REGION_PREFIX

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\+\d{6,15})$", re.ASCII)
# What the published patterns say; the validators below check the same and more (the check
# character, real dates), each failure with its own stable code.
ID_NUMBER_PATTERN = r"^\d{17}[\dXx]$"
# Dates, months and instants are written with a year from 1900 to 2099 (`date_out_of_range`).
YEAR_PATTERN = r"^(19|20)\d{2}-"
MONTH_PATTERN = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"
ID_NUMBER_FORMAT = "gb11643"
"""The OpenAPI ``format`` of an ID number: GB 11643's check character, which no pattern states."""
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"
_CURSOR = re.compile(CURSOR_PATTERN)
# The ID number's birth date is compared with today in Beijing, where agencies work.
_ID_CLOCK = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class JsonPattern:
    """Publishes ``pattern`` in the JSON schema of a type whose validator checks it (with its
    own error code, which a plain ``StringConstraints(pattern=...)`` could not give)."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        # Input is stripped before its length is checked: text that must not be empty must
        # not be blank either (the schema says so with the pattern's non-blank form).
        blank_refused = schema.get("minLength", 0) >= 1
        schema["pattern"] = (
            NON_BLANK.get(self.pattern, self.pattern) if blank_refused else self.pattern
        )
        return schema


def _id_number(value: str) -> str:
    try:
        number = normalize_id_number(value)
    except InvalidIdNumber as exc:
        # A custom error type becomes the problem's `code`; the message never holds the number.
        raise PydanticCustomError("invalid_id_number", str(exc)) from None
    if birth_date_of(number) > datetime.now(_ID_CLOCK).date():
        raise PydanticCustomError(
            "invalid_id_number", "the ID number's birth date is in the future"
        )
    return number


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
        month = Month.parse(value)
    except ValueError:
        raise PydanticCustomError("invalid_month", "a month is written YYYY-MM") from None
    if not Month.of(EARLIEST_DAY) <= month <= Month.of(LATEST_DAY):
        raise _out_of_range()
    return value


def _cursor(value: str) -> str:
    if not _CURSOR.match(value):
        raise PydanticCustomError("invalid_cursor", "the cursor is not one this service issued")
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
    JsonPattern(ID_NUMBER_PATTERN),
    Field(
        json_schema_extra={"format": ID_NUMBER_FORMAT},
        description="18-character resident ID number (GB 11643), birth date not in the future; "
        "never echoed back unmasked",
    ),
]
AgencyCode = Annotated[
    str,
    AfterValidator(_agency_code),
    JsonPattern(AGENCY_CODE.pattern),
    Field(description="6-digit division code (GB/T 2260)"),
]
RegionPrefix = Annotated[
    str,
    AfterValidator(_region_prefix),
    JsonPattern(REGION_PREFIX.pattern),
    Field(description="division-code prefix: 14, 1404, 140402"),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=20),
    AfterValidator(_phone),
    JsonPattern(_PHONE.pattern),
]
MonthText = Annotated[
    str, AfterValidator(_month), JsonPattern(MONTH_PATTERN), Field(description="a month, YYYY-MM")
]
CursorText = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(_cursor),
    JsonPattern(CURSOR_PATTERN),
    Field(description="opaque: the next_cursor of the previous page"),
]

# --- text and dates ---------------------------------------------------------------------
# PostgreSQL refuses NUL in text (a 500 where a 422 belongs); other control characters hide in
# logs, notices and exported files; an unpaired surrogate cannot be encoded as UTF-8 at all.
# Prose (notes, reasons) may keep tabs and line breaks; everything else is one line.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
PROSE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# The same with at least one character that stripping keeps (\x85 is Unicode white space,
# though not in JSON schema's \s).
_KEPT = r"[^\s\x00-\x1f\x7f\x85]"
NON_BLANK = {
    LINE_PATTERN: rf"^[^\x00-\x1f\x7f]*{_KEPT}[^\x00-\x1f\x7f]*$",
    PROSE_PATTERN: (
        rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*{_KEPT}[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ),
}
_NOT_LINE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_NOT_PROSE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _line(value: str) -> str:
    if _NOT_LINE.search(value):
        raise PydanticCustomError(
            "invalid_character", "text must not contain NUL or other control characters"
        )
    return value


def _prose(value: str) -> str:
    if _NOT_PROSE.search(value):
        raise PydanticCustomError(
            "invalid_character",
            "text must not contain NUL or control characters other than tab and line breaks",
        )
    return value


def state_non_blank(document: Any) -> Any:
    """Every text schema of ``document`` (an OpenAPI document, changed in place) that must not
    be empty gets the non-blank form of its pattern: input is stripped before its length is
    checked, so such text must not be blank either."""
    if isinstance(document, dict):
        pattern = document.get("pattern")
        if pattern in NON_BLANK and document.get("minLength", 0) >= 1:
            document["pattern"] = NON_BLANK[pattern]
        for value in document.values():
            state_non_blank(value)
    elif isinstance(document, list):
        for value in document:
            state_non_blank(value)
    return document


def refuse_control_characters(value: str) -> str:
    """The check of `Line`, for types that add their own (references, URLs)."""
    return _line(value)


Line = Annotated[str, AfterValidator(_line), JsonPattern(LINE_PATTERN)]
"""One line of text: a name, an identifier, a reference. Lengths are set where it is used."""
Prose = Annotated[str, AfterValidator(_prose), JsonPattern(PROSE_PATTERN)]
"""Free text that may span lines: a note, a reason, grounds."""

# Every date and instant the service takes lies in these bounds: nobody alive was born
# before 1900 and no decision reaches past 2099, while 0001-01-01 and 9999-12-31 break
# month arithmetic (9999-12 has no next month) and PostgreSQL (no instant before year 1 UTC).
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2099, 12, 31)


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError(
        "date_out_of_range",
        "dates lie between {earliest} and {latest}",
        {"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
    )


def _day(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _out_of_range()
    return value


def _instant(value: datetime) -> datetime:
    # The date as written (in its own offset), so the published year pattern says it exactly.
    if not EARLIEST_DAY <= value.date() <= LATEST_DAY:
        raise _out_of_range()
    return value


Day = Annotated[date, AfterValidator(_day), JsonPattern(YEAR_PATTERN)]
"""A date between 1900-01-01 and 2099-12-31 (`date_out_of_range` otherwise)."""
Instant = Annotated[AwareDatetime, AfterValidator(_instant), JsonPattern(YEAR_PATTERN)]
"""An instant with its offset, in the years 1900 to 2099 (`date_out_of_range` otherwise)."""

T = TypeVar("T")


class InputModel(BaseModel):
    """Inputs forbid unknown fields, so a typo is an error rather than silently dropped data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


# --- conditional requirements, as the JSON schema states them ---------------------------
# Each helper returns a JSON-schema fragment for a model's ``json_schema_extra`` (under
# ``allOf``), so that openapi.yaml states the rule the model's validator enforces.

JsonRule = dict[str, Any]


def given(*names: str) -> JsonRule:
    """The fields are given and not null."""
    return {
        "required": list(names),
        "properties": {name: {"not": {"type": "null"}} for name in names},
    }


def exactly_one_of(*names: str) -> JsonRule:
    """Exactly one of the fields is given and not null."""
    return {"oneOf": [given(name) for name in names]}


def when(field: str, values: Iterable[str], enum: Iterable[str], then: JsonRule) -> JsonRule:
    """When ``field`` (of the values ``enum``) is one of ``values``, ``then`` holds."""
    chosen = set(values)
    others = sorted(value for value in enum if value not in chosen)
    return {"anyOf": [{"properties": {field: {"enum": others}}}, then]}


def rules(*fragments: JsonRule) -> dict[str, Any]:
    """``json_schema_extra`` stating every fragment."""
    return {"allOf": list(fragments)}
