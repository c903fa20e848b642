"""Request and response bodies for recipients and their benefits (API.md, "Recipients")."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from app.domain.enums import BenefitType, Residence
from app.domain.id_numbers import birth_date_of
from app.schemas.common import AgencyCode, Day, IdNumber, InputModel, Line, Phone

MAX_EMERGENCY_CONTACTS = 20


class BenefitIn(InputModel):
    benefit_type: BenefitType
    agency_code: AgencyCode
    start_date: Day
    approved: bool = Field(
        default=True, description="false for a new benefit awaiting its first certification"
    )
    external_ref: Line | None = Field(default=None, max_length=64)
    funeral_subsidy_area: bool | None = Field(
        default=None, description="resident pensions: does the area have a funeral subsidy"
    )


class RecipientCreate(InputModel):
    id_number: IdNumber
    name: Line = Field(min_length=1, max_length=100)
    phone: Phone | None = None
    residence: Residence
    emergency_contacts: int = Field(ge=0, le=MAX_EMERGENCY_CONTACTS)
    benefits: list[BenefitIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _benefits_unique(self) -> RecipientCreate:
        keys = [(b.benefit_type, b.agency_code) for b in self.benefits]
        if len(keys) != len(set(keys)):
            # Between items: no JSON schema states it, so it has its own code.
            raise PydanticCustomError(
                "benefit_listed_twice", "a benefit type is listed twice for the same agency"
            )
        return self

    @model_validator(mode="after")
    def _benefits_begin_after_birth(self) -> RecipientCreate:
        born_on = birth_date_of(self.id_number)
        if any(benefit.start_date < born_on for benefit in self.benefits):
            raise PydanticCustomError(
                "before_birth", "a benefit's start_date is before the birth date in the ID number"
            )
        return self


class RecipientUpdate(InputModel):
    # At least one field; a phone may be cleared (null), residence and contacts may not.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    phone: Phone | None = None
    residence: Residence | SkipJsonSchema[None] = None
    emergency_contacts: (
        Annotated[int, Field(ge=0, le=MAX_EMERGENCY_CONTACTS)] | SkipJsonSchema[None]
    ) = None

    @model_validator(mode="after")
    def _something_to_change(self) -> RecipientUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of phone, residence, emergency_contacts")
        if "residence" in self.model_fields_set and self.residence is None:
            raise ValueError("residence cannot be cleared")
        if "emergency_contacts" in self.model_fields_set and self.emergency_contacts is None:
            raise ValueError("emergency_contacts cannot be cleared")
        return self


class RecipientLookup(InputModel):
    id_number: IdNumber


class BenefitRead(BaseModel):
    benefit_id: uuid.UUID
    benefit_type: BenefitType
    agency_code: str
    start_date: date
    approved: bool
    external_ref: str | None
    funeral_subsidy_area: bool | None


class RecipientRead(BaseModel):
    recipient_id: uuid.UUID
    id_number_masked: str = Field(
        examples=["1404**************"],
        description="the ID number's first four characters (province and city), the rest hidden",
    )
    name: str
    phone: str | None
    residence: Residence
    emergency_contacts: int
    birth_date: date | None = Field(
        description="admin only; null for other roles (with the agency it narrows a person down)"
    )
    benefits: list[BenefitRead]
    created_at: datetime
    updated_at: datetime
