"""Home-visit requests (上门认证申请) and their lifecycle (API.md, "Reminders, notices,
reporting")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import InputModel, Line, Phone, Prose

RequestStatus = Literal["open", "assigned", "completed", "failed"]
Requester = Literal["self", "family", "employer", "community"]
VisitReason = Literal["elderly", "ill", "disabled", "other"]
# The visitor types a home_visit certification names (app/schemas/channels.py HomeVisitDetails).
VisitorType = Literal["grid_worker", "employer_staff", "agency_staff"]
VisitOutcome = Literal["not_found", "refused", "deceased"]


class HomeVisitRequestCreate(InputModel):
    recipient_id: uuid.UUID
    requested_by: Requester
    reason: VisitReason
    contact_phone: Phone | None = None
    note: Prose | None = Field(default=None, max_length=1000)


class AssignmentCreate(InputModel):
    visitor_type: VisitorType
    visitor_id: Line = Field(min_length=1, max_length=128)


class OutcomeCreate(InputModel):
    """A visit that could not certify."""

    outcome: VisitOutcome
    note: Prose | None = Field(default=None, max_length=1000)


class HomeVisitRequestRead(BaseModel):
    request_id: uuid.UUID = Field(
        description="what the home_visit certification's details.request_id names"
    )
    recipient_id: uuid.UUID
    agency_code: str
    requested_by: Requester
    reason: VisitReason
    contact_phone: str | None
    status: RequestStatus
    visitor_type: VisitorType | None
    visitor_id: str | None
    outcome: VisitOutcome | None
    note: str | None
    certification_id: uuid.UUID | None = Field(description="the certification that completed it")
    case_id: uuid.UUID | None = Field(description="the verification case a `deceased` opened")
    created_at: datetime
    updated_at: datetime
