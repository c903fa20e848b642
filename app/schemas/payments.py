"""The payment system's side: batch checks and stored payment runs (API.md, "Eligibility")."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import (
    IdNumber,
    InputModel,
    MonthText,
    RegionPrefix,
    exactly_one_of,
    rules,
)
from app.schemas.eligibility import BenefitEligibility

MAX_CHECK = 10_000


class CheckKey(InputModel):
    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("id_number", "recipient_id")))

    id_number: IdNumber | None = None
    recipient_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.id_number is None) == (self.recipient_id is None):
            raise ValueError("give exactly one of id_number and recipient_id")
        return self


class EligibilityCheck(InputModel):
    month: MonthText
    recipients: list[CheckKey] = Field(min_length=1, max_length=MAX_CHECK)


class CheckResult(BaseModel):
    index: int
    status: Literal["found", "not_found"]
    recipient_id: uuid.UUID | None
    id_number_masked: str | None
    benefits: list[BenefitEligibility]


class EligibilityCheckResult(BaseModel):
    month: str
    on: date = Field(description="the day each answer was decided for")
    results: list[CheckResult]


class PaymentRunCreate(InputModel):
    month: MonthText
    agency_code: RegionPrefix
    new: bool = Field(
        default=False,
        description="compute a new run even when one exists for this month and agency",
    )


class RunCounts(BaseModel):
    payable: int
    withheld: int
    stopped: int


class PaymentRunRead(BaseModel):
    run_id: uuid.UUID
    month: str
    agency_code: str
    generation: int
    status: Literal["pending", "running", "completed", "failed"]
    decided_on: date
    known_at: datetime = Field(description="decisions use only what was recorded by then")
    counts: RunCounts
    items: int = Field(description="items stored so far (all of them once completed)")
    planned_items: int | None = Field(
        description="benefits in the run's scope, known once its computation has planned it"
    )
    attempt: int = Field(description="raised each time a stalled computation is taken over")
    heartbeat_at: datetime | None = Field(
        description="last sign of life of the computation; a computing run whose heartbeat is "
        "older than the lease is taken over by the next request for it"
    )
    digest: str | None = Field(description="SHA-256 (hex) of the NDJSON the items endpoint serves")
    created_at: datetime
    completed_at: datetime | None
