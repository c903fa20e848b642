"""Stop reports, verification cases, resumption steps, moratoria and post-checks
(API.md, "Stop events and verification")."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from app.domain.enums import BenefitType, ResumptionMode
from app.domain.events import CaseOutcome, Reporter, StopReason
from app.domain.working_days import DeadlineBasis
from app.schemas.common import (
    Day,
    IdNumber,
    InputModel,
    Line,
    Prose,
    RegionPrefix,
    exactly_one_of,
    given,
    rules,
    when,
)
from app.schemas.eligibility import BenefitEligibility

PERSON_LEVEL_REASONS = frozenset({StopReason.DEATH, StopReason.IMPRISONMENT, StopReason.RELEASE})
DocumentRef = Line
ContactMethod = Literal["phone", "sms", "visit", "family", "employer", "letter"]
ContactOutcome = Literal[
    "reached_recipient", "reached_family", "no_answer", "wrong_number", "refused", "other"
]


class StopReportCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra=rules(
            exactly_one_of("id_number", "recipient_id"),
            when(
                "reason",
                PERSON_LEVEL_REASONS,
                StopReason,
                {"properties": {"benefit_id": {"type": "null"}}},
            ),
            when(
                "reason",
                [StopReason.RELEASE],
                StopReason,
                {"properties": {"suspected": {"const": False}}},
            ),
        )
    )

    id_number: IdNumber | None = None
    recipient_id: uuid.UUID | None = None
    benefit_id: uuid.UUID | None = Field(
        default=None, description="benefit-specific reasons only; omitted: every benefit"
    )
    reason: StopReason
    occurred_on: Day
    reported_by: Reporter
    suspected: bool = Field(
        default=False, description="an unverified signal: suspends and opens a case, never stops"
    )
    documents: list[Annotated[DocumentRef, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=20
    )
    note: Prose | None = Field(default=None, max_length=500)
    source_ref: Line | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.id_number is None) == (self.recipient_id is None):
            raise ValueError("give exactly one of id_number and recipient_id")
        if self.reason in PERSON_LEVEL_REASONS and self.benefit_id is not None:
            raise ValueError(f"{self.reason.value} concerns the person: omit benefit_id")
        if self.reason is StopReason.RELEASE and self.suspected:
            raise ValueError("a release is reported with documents, not as a suspicion")
        if any(not ref.strip() or len(ref) > 256 for ref in self.documents):
            raise ValueError("document references are 1 to 256 characters")
        return self


class StopReportRead(BaseModel):
    report_id: uuid.UUID
    recipient_id: uuid.UUID
    benefit_id: uuid.UUID | None
    reason: StopReason
    occurred_on: Day
    reported_by: Reporter
    suspected: bool
    documents: list[str]
    deadline: date = Field(description="20 working days after the event")
    late: bool
    calendar: DeadlineBasis = Field(
        description="official: every day counted lies in a year whose official holiday "
        "arrangement is loaded; provisional: some did not (weekends and statutory holidays "
        "only), and the deadline and `late` are counted again when it is loaded"
    )
    recorded_at: datetime
    case_id: uuid.UUID | None = Field(description="the verification case a suspicion opened")
    effects: list[BenefitEligibility] = Field(description="each benefit's answer right after")


class CaseContactCreate(InputModel):
    method: ContactMethod
    outcome: ContactOutcome
    note: Prose | None = Field(default=None, max_length=1000)


class CaseContactRead(BaseModel):
    contact_id: uuid.UUID
    method: str
    outcome: str
    note: str | None
    recorded_at: datetime
    recorded_by: uuid.UUID


class CaseResolutionCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra=rules(
            when("outcome", [CaseOutcome.CONFIRMED_INELIGIBLE], CaseOutcome, given("effective_on"))
        )
    )

    outcome: CaseOutcome
    effective_on: Day | None = Field(
        default=None, description="required when confirmed_ineligible: stopped after this month"
    )
    documents: list[DocumentRef] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _date_when_stopping(self) -> Self:
        if self.outcome is CaseOutcome.CONFIRMED_INELIGIBLE and self.effective_on is None:
            raise ValueError("confirmed_ineligible needs effective_on")
        return self


class CaseRead(BaseModel):
    case_id: uuid.UUID
    recipient_id: uuid.UUID
    benefit_id: uuid.UUID | None
    agency_code: str
    reason: str
    status: Literal["open", "resolved"]
    opened_on: date
    stop_report_id: uuid.UUID | None
    certification_id: uuid.UUID | None
    outcome: CaseOutcome | None
    effective_on: date | None
    documents: list[str]
    resolved_at: datetime | None
    contacts: list[CaseContactRead]
    effects: list[BenefitEligibility] | None = Field(
        default=None, description="on resolution: each benefit's answer right after"
    )


class CommitmentCreate(InputModel):
    signed_on: Day
    document_ref: Line | None = Field(default=None, min_length=1, max_length=256)


class EmployerVerificationCreate(InputModel):
    employer: Line = Field(min_length=1, max_length=200)
    verified_on: Day
    document_ref: Line | None = Field(default=None, min_length=1, max_length=256)


class ContinuationCreate(InputModel):
    decided_on: Day
    decision_ref: Line = Field(min_length=1, max_length=256)


class ResumptionStepRead(BaseModel):
    step_id: uuid.UUID
    recipient_id: uuid.UUID
    kind: ResumptionMode
    completed_on: date
    employer: str | None
    reference: str | None
    recorded_at: datetime
    effects: list[BenefitEligibility]


class MoratoriumCreate(InputModel):
    agency_code: RegionPrefix
    benefit_types: list[BenefitType] = Field(min_length=1, max_length=8)
    starts_on: Day
    ends_on: Day
    reason: Prose = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ends_on < self.starts_on:
            # Between two fields: no JSON schema states it, so it has its own code.
            raise PydanticCustomError("ends_before_start", "ends_on is before starts_on")
        return self


class MoratoriumRead(BaseModel):
    moratorium_id: uuid.UUID
    agency_code: str
    benefit_types: list[BenefitType]
    starts_on: date
    ends_on: date
    reason: str
    created_by: uuid.UUID
    created_at: datetime


class PostCheckItem(BaseModel):
    recipient_id: uuid.UUID
    benefit_id: uuid.UUID
    agency_code: str
    resumed_in: str = Field(description="the month payment resumed, YYYY-MM")
    suspended_months: int
    certification_id: uuid.UUID
