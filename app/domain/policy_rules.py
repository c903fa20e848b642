"""The tables a policy is made of: cycles, face thresholds, first-certification windows and
resumption tiers. `app.domain.policy` assembles them into a `Policy`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.enums import BenefitType, ManualMode, Residence, ResumptionMode

FROZEN = ConfigDict(frozen=True, extra="forbid")
Count = Annotated[int, Field(ge=0)]
BenefitTypes = Annotated[frozenset[BenefitType], Field(min_length=1)]
_Score = Annotated[float, Field(gt=0, le=1)]


class CycleRule(BaseModel):
    """One row of the cycle table; a policy's rules are tried in order and the first match wins.

    Conditions left out match anything. ``funeral_subsidy_area`` matches only a benefit whose
    area is known to be that way, so an unknown area falls through to a later rule.
    """

    model_config = FROZEN

    benefit_types: BenefitTypes
    min_emergency_contacts: Count | None = None
    max_emergency_contacts: Count | None = None
    funeral_subsidy_area: bool | None = None
    months: Annotated[int, Field(gt=0)] | None = None
    no_cycle: bool = False

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        if (self.months is None) != self.no_cycle:
            raise ValueError("give either months = N or no_cycle = true")
        low, high = self.min_emergency_contacts, self.max_emergency_contacts
        if low is not None and high is not None and low > high:
            raise ValueError("min_emergency_contacts is above max_emergency_contacts")
        return self

    def matches(
        self, benefit_type: BenefitType, emergency_contacts: int, funeral_subsidy_area: bool | None
    ) -> bool:
        return (
            benefit_type in self.benefit_types
            and (
                self.min_emergency_contacts is None
                or emergency_contacts >= self.min_emergency_contacts
            )
            and (
                self.max_emergency_contacts is None
                or emergency_contacts <= self.max_emergency_contacts
            )
            and (
                self.funeral_subsidy_area is None
                or funeral_subsidy_area is self.funeral_subsidy_area
            )
        )


class FaceThresholds(BaseModel):
    """Scores a face certification needs to count; set by the agency, not by the notices."""

    model_config = FROZEN

    min_similarity: _Score
    min_liveness: _Score


class DataMatchRules(BaseModel):
    """How fresh a data match's life evidence must be to count as a certification."""

    model_config = FROZEN

    # Months before the month of recording that the evidence may fall in (0: the same month).
    max_evidence_age_months: Count


class ManualModeRule(BaseModel):
    """Whom a manual mode serves, by registered residence, and what a certification made in it
    for anyone else is: refused (422 ``manual_mode_residence``), or accepted with the warning
    ``residence_mismatch`` (the registry may be out of date) that risk signals list."""

    model_config = FROZEN

    mode: ManualMode
    residences: Annotated[frozenset[Residence], Field(min_length=1)]
    otherwise: Literal["refuse", "warn"]


class FirstCertificationWindow(BaseModel):
    """When the service starts to withhold for some benefit types (首次资格认证).

    Until ``first_certification_deadline`` nobody of these types is withheld for lack of a
    certification; from ``enforcement_starts`` an overdue or never-certified benefit is suspended.
    Both dates fall on month boundaries so that a payment decision holds for a whole month.
    """

    model_config = FROZEN

    benefit_types: BenefitTypes
    coverage_start: date
    first_certification_deadline: date
    enforcement_starts: date

    @model_validator(mode="after")
    def _ordered_month_boundaries(self) -> Self:
        deadline, start = self.first_certification_deadline, self.enforcement_starts
        if not self.coverage_start <= deadline < start:
            raise ValueError(
                "need coverage_start <= first_certification_deadline < enforcement_starts"
            )
        if (deadline + timedelta(days=1)).day != 1:
            raise ValueError("first_certification_deadline must be the last day of a month")
        if start.day != 1:
            raise ValueError("enforcement_starts must be the first day of a month")
        return self


class ResumptionTier(BaseModel):
    """How a suspended benefit may come back. Where several conditional tiers match, the most
    demanding mode applies, whatever their order; the last tier (unconditional) applies when
    none does. Limits count as Chinese law counts them (民法典 第1259条: 以上/以内/届满 include
    the number, 超过/不满 do not): ``*_at_least`` is 以上 or （含）, ``*_at_most`` is 以内,
    ``*_over`` is 超过."""

    model_config = FROZEN

    mode: ResumptionMode
    benefit_types: BenefitTypes | None = None  # None: every type
    suspended_months_at_least: Count | None = None
    suspended_months_over: Count | None = None
    suspended_months_at_most: Count | None = None
    months_since_certification_over: Count | None = None
    agency_verified_stop: bool = False
    suspected_incarceration: bool = False

    @property
    def unconditional(self) -> bool:
        return self.model_dump(exclude={"mode"}, exclude_defaults=True) == {}

    def matches(
        self,
        benefit_type: BenefitType,
        months_suspended: int,
        months_since_certification: int | None,
        agency_verified_stop: bool,
        suspected_incarceration: bool,
    ) -> bool:
        since = months_since_certification
        return (
            (self.benefit_types is None or benefit_type in self.benefit_types)
            and _at_least(months_suspended, self.suspended_months_at_least)
            and _at_least(months_suspended, _plus_one(self.suspended_months_over))
            and (
                self.suspended_months_at_most is None
                or months_suspended <= self.suspended_months_at_most
            )
            # "距离上次认证超过2年再次认证": certifying *again* long after the last certification;
            # a benefit never certified before has no last one, so such a tier does not apply.
            and (
                self.months_since_certification_over is None
                or (since is not None and since > self.months_since_certification_over)
            )
            and (agency_verified_stop or not self.agency_verified_stop)
            and (suspected_incarceration or not self.suspected_incarceration)
        )


class ResumptionRules(BaseModel):
    model_config = FROZEN

    back_pay: bool
    tiers: tuple[ResumptionTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _last_tier_catches_all(self) -> Self:
        if not self.tiers[-1].unconditional:
            raise ValueError("the last tier must have no conditions, so every case has a mode")
        return self


def _plus_one(value: int | None) -> int | None:
    return None if value is None else value + 1


def _at_least(value: int, bound: int | None) -> bool:
    return bound is None or value >= bound
