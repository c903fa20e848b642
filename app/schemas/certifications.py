"""Certification requests and answers (API.md, "Certifications").

A request body is one model per channel (a union discriminated on ``channel``), each the
common fields plus that channel's ``details``, so the OpenAPI document shows exactly which
evidence each channel needs.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.enums import CertificationResult, Channel, EligibilityStatus
from app.errors import Problem
from app.schemas.channels import (
    ConsularAppCertificationPart,
    DataMatchCertificationPart,
    FaceCertificationPart,
    GrassrootsTerminalCertificationPart,
    HomeVisitCertificationPart,
    ManualCertificationPart,
)
from app.schemas.common import (
    IdNumber,
    InputModel,
    Instant,
    Line,
    Prose,
    exactly_one_of,
    rules,
)

MAX_BATCH_ITEMS = 1000


class _CertificationCommon(InputModel):
    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("id_number", "recipient_id")))

    id_number: IdNumber | None = None
    recipient_id: uuid.UUID | None = None
    result: CertificationResult
    occurred_at: Instant
    source_ref: Line | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="the sender's own id for this event: re-sending it never duplicates",
    )

    @model_validator(mode="after")
    def _one_recipient_key(self) -> Self:
        if (self.id_number is None) == (self.recipient_id is None):
            raise ValueError("give exactly one of id_number and recipient_id")
        return self


class FaceCertificationCreate(_CertificationCommon, FaceCertificationPart):
    pass


class ConsularAppCertificationCreate(_CertificationCommon, ConsularAppCertificationPart):
    pass


class ManualCertificationCreate(_CertificationCommon, ManualCertificationPart):
    pass


class GrassrootsTerminalCertificationCreate(
    _CertificationCommon, GrassrootsTerminalCertificationPart
):
    pass


class HomeVisitCertificationCreate(_CertificationCommon, HomeVisitCertificationPart):
    pass


class DataMatchCertificationCreate(_CertificationCommon, DataMatchCertificationPart):
    pass


AnyCertificationCreate = (
    FaceCertificationCreate
    | ConsularAppCertificationCreate
    | ManualCertificationCreate
    | GrassrootsTerminalCertificationCreate
    | HomeVisitCertificationCreate
    | DataMatchCertificationCreate
)
CertificationCreate = Annotated[AnyCertificationCreate, Field(discriminator="channel")]


class CertificationBatch(InputModel):
    # Items are validated one by one in the service, so one bad item never fails the others.
    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class CertificationRevoke(InputModel):
    reason: Prose = Field(min_length=1, max_length=500)


class BenefitValidity(BaseModel):
    benefit_id: uuid.UUID
    status: EligibilityStatus
    payable: bool
    valid_through: date | None
    next_due: date | None


class Revocation(BaseModel):
    revoked_at: datetime
    revoked_by: str
    reason: str


class CertificationRead(BaseModel):
    certification_id: uuid.UUID
    recipient_id: uuid.UUID
    channel: Channel
    result: CertificationResult
    occurred_at: datetime
    recorded_at: datetime
    counted: bool = Field(description="did it extend validity")
    warnings: list[str]
    source_ref: str | None
    recorded_by: str = Field(description="the API client that posted it")
    imported: bool
    details: dict[str, Any]
    revocation: Revocation | None
    benefits: list[BenefitValidity] = Field(
        description="each benefit's status and validity right after this certification"
    )


class BatchItemResult(BaseModel):
    index: int
    status: int
    certification: CertificationRead | None = None
    problem: Problem | None = None


class BatchResult(BaseModel):
    results: list[BatchItemResult]
