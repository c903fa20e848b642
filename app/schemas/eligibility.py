"""Eligibility answers (API.md, "Eligibility")."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from app.domain.enums import BenefitType, Channel, EligibilityStatus, ResumptionMode


class LastCertification(BaseModel):
    certification_id: uuid.UUID
    channel: Channel
    occurred_at: datetime


class Resumption(BaseModel):
    mode: ResumptionMode


class BenefitEligibility(BaseModel):
    benefit_id: uuid.UUID
    benefit_type: BenefitType
    agency_code: str
    external_ref: str | None
    policy: str = Field(examples=["shanxi-2026"])
    payable: bool
    status: EligibilityStatus
    reason: str = Field(examples=["certified", "first_certification_window", "overdue"])
    cycle_months: int | None
    valid_through: date | None
    next_due: date | None
    last_certification: LastCertification | None
    resumption: Resumption | None
    back_pay_months: list[str] = Field(examples=[["2026-09", "2026-10"]])
    overpaid_months: list[str]
    moratorium_id: uuid.UUID | None = Field(
        default=None, description="the moratorium keeping an overdue benefit payable"
    )
    incarcerated: bool = Field(
        default=False, description="an imprisonment report blocks self-service certification"
    )


class RecipientEligibility(BaseModel):
    recipient_id: uuid.UUID
    on: date
    known_at: datetime | None = Field(
        default=None, description="when given: the answer from what had been recorded by then"
    )
    benefits: list[BenefitEligibility]
