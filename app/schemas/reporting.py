"""Reminders, statistics and risk signals (API.md, "Reminders, notices, reporting")."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.domain.enums import BenefitType, Channel, EligibilityStatus

OutreachWhy = Literal["aged_80_or_over", "disability_benefit", "failed_self_service", "no_phone"]


class ReminderItem(BaseModel):
    """A benefit due for certification within the policy's lead time, or suspended for lack
    of one (a certification, or the step after it, would bring it back)."""

    recipient_id: uuid.UUID
    benefit_id: uuid.UUID
    benefit_type: BenefitType
    agency_code: str
    status: EligibilityStatus
    reason: str
    valid_through: date | None
    next_due: date | None = Field(description="valid_through, or the first-certification deadline")
    days_left: int | None = Field(description="next_due minus `on`; negative once overdue")
    phone: str | None = Field(
        description="in full for the notice gateway (mobile role) and admin, else 138****0000"
    )


class OutreachItem(ReminderItem):
    why: list[OutreachWhy] = Field(description="why a phone reminder is unlikely to reach them")


class FirstCertificationProgress(BaseModel):
    """Benefits of a first-certification window's types that started before its coverage
    start, and how many have certified since then."""

    benefit_types: list[BenefitType]
    coverage_start: date
    deadline: date
    enforcement_starts: date
    in_scope: int
    certified: int
    remaining: int


class Stats(BaseModel):
    """Every in-scope benefit is in exactly one of valid, due_within_lead_time, suspended,
    stopped, awaiting_first_certification and not_required; never_certified cuts across them."""

    agency_code: str
    on: date
    policy: str
    in_scope: int
    valid: int
    due_within_lead_time: int
    suspended: int
    stopped: int
    awaiting_first_certification: int
    not_required: int
    never_certified: int
    by_channel: dict[Channel, int] = Field(
        description="counted, unrevoked certifications since channels_since by recipients here"
    )
    channels_since: date
    first_certification: list[FirstCertificationProgress]
    from_sweep: int = Field(description="benefits counted from the sweep's snapshot of `on`")
    evaluated: int = Field(description="benefits the engine decided for this request")


class RiskThresholds(BaseModel):
    device_min_recipients: int
    operator_min_per_day: int
    service_point_min_per_day: int
    failed_attempts_min: int


class VolumeSignal(BaseModel):
    """A device, operator or service point with unusually many certifications."""

    key: str
    certifications: int
    recipients: int
    certification_ids: list[uuid.UUID]
    truncated: bool = Field(description="more certifications lie behind it than listed")


class FailureSignal(BaseModel):
    recipient_id: uuid.UUID
    failed_attempts: int
    certification_ids: list[uuid.UUID]
    truncated: bool


class AfterDeathSignal(BaseModel):
    recipient_id: uuid.UUID
    certification_id: uuid.UUID
    case_id: uuid.UUID
    occurred_at: datetime


class ResidenceMismatchSignal(BaseModel):
    """A certification whose channel or manual mode is for residents elsewhere than the
    recipient's registered residence: the registry may be out of date, or the channel misused."""

    recipient_id: uuid.UUID
    certification_id: uuid.UUID
    channel: str
    mode: str | None
    occurred_at: datetime


class RiskSignals(BaseModel):
    agency_code: str
    since: date
    until: datetime
    thresholds: RiskThresholds
    devices: list[VolumeSignal]
    operators: list[VolumeSignal]
    service_points: list[VolumeSignal]
    repeated_failures: list[FailureSignal]
    after_death: list[AfterDeathSignal]
    residence_mismatches: list[ResidenceMismatchSignal] = Field(
        description="consular-app and manual certifications for a recipient registered"
        " elsewhere than the channel or mode serves (the warning `residence_mismatch`)"
    )
