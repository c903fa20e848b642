"""What the engine is told and what it answers: a benefit, its recipient, the certifications,
and the `Eligibility` of one benefit on one day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.domain.enums import BenefitType, Channel, EligibilityStatus, Residence, ResumptionMode
from app.domain.months import Month


@dataclass(frozen=True, slots=True)
class BenefitFacts:
    benefit_id: str
    benefit_type: BenefitType
    agency_code: str
    start_date: date
    approved: bool
    funeral_subsidy_area: bool | None


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    residence: Residence
    emergency_contacts: int


@dataclass(frozen=True, slots=True)
class CertificationFact:
    certification_id: str
    channel: Channel
    occurred_at: datetime  # aware
    recorded_at: datetime  # aware: when the service stored it
    counted: bool  # passed and met the policy's thresholds at ingest
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Eligibility:
    policy_id: str
    status: EligibilityStatus
    reason: str
    payable: bool
    cycle_months: int | None
    valid_through: date | None
    next_due: date | None
    last_certification: CertificationFact | None
    resumption: ResumptionMode | None
    back_pay_months: tuple[Month, ...]
    overpaid_months: tuple[Month, ...]
    # The moratorium keeping an overdue benefit payable (reason ``moratorium``).
    moratorium_id: str | None = None
    # An imprisonment report, suspected or confirmed, is on record and no documented release
    # (or verification) has cleared it: no self-service certification.
    incarcerated: bool = False
    # In the month the benefit came back from a suspension: the months it had been withheld.
    resumed_after_months: int | None = None
    # While stopped: the day of the condition (death, re-employment, effective date of the
    # agency's finding); the benefit was owed through the end of that month.
    stopped_on: date | None = None
