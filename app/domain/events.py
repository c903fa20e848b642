"""Facts beyond certifications that decide a benefit: stop reports, verification cases,
resumption steps and suspension moratoria. Plain data for the engine; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from app.domain.enums import BenefitType, ResumptionMode


class StopReason(StrEnum):
    DEATH = "death"
    IMPRISONMENT = "imprisonment"
    RELEASE = "release"
    RE_EMPLOYMENT = "re_employment"
    STARTED_PENSION = "started_pension"
    ENLISTED = "enlisted"
    EMIGRATED = "emigrated"
    DEPENDENT_NO_LONGER_ELIGIBLE = "dependent_no_longer_eligible"
    OTHER = "other"


B = BenefitType
_ALL = frozenset(BenefitType)
# Which benefits each stop condition ends (docs/policy.md §7.6).
# 失业保险条例 第十五条: re-employment, enlistment, emigration and drawing a basic pension end
# unemployment benefit. 工伤保险条例 第三十五条: the disability allowance stops at retirement, the
# pension taking over. The illness-or-disability allowance (病残津贴) is paid until the pension
# starts. 因工死亡职工供养亲属范围规定 第六条: a dependent's pension ends on employment,
# enlistment or loss of dependent status. A pension is never ended by starting one, and an
# emigrant's pension goes on (certified from abroad).
ENDED_BY: dict[StopReason, frozenset[BenefitType]] = {
    StopReason.DEATH: _ALL,
    StopReason.IMPRISONMENT: _ALL,
    StopReason.RELEASE: _ALL,
    StopReason.RE_EMPLOYMENT: frozenset({B.UNEMPLOYMENT, B.WORK_INJURY_DEPENDENT}),
    StopReason.STARTED_PENSION: frozenset(
        {B.UNEMPLOYMENT, B.ILLNESS_DISABILITY_ALLOWANCE, B.WORK_INJURY_DISABILITY}
    ),
    StopReason.ENLISTED: frozenset({B.UNEMPLOYMENT, B.WORK_INJURY_DEPENDENT}),
    StopReason.EMIGRATED: frozenset({B.UNEMPLOYMENT}),
    StopReason.DEPENDENT_NO_LONGER_ELIGIBLE: frozenset({B.WORK_INJURY_DEPENDENT}),
    StopReason.OTHER: _ALL,  # the agency's own finding: the report names what it ends
}


def ends(reason: StopReason, benefit_type: BenefitType) -> bool:
    """Whether a stop condition of this kind can end a benefit of this type."""
    return benefit_type in ENDED_BY[reason]


class Reporter(StrEnum):
    EMPLOYER = "employer"
    FAMILY = "family"
    SELF = "self"
    AGENCY = "agency"
    DATA_MATCH = "data_match"


class CaseOutcome(StrEnum):
    CONFIRMED_ELIGIBLE = "confirmed_eligible"
    CONFIRMED_INELIGIBLE = "confirmed_ineligible"


@dataclass(frozen=True, slots=True)
class StopEventFact:
    """A reported stop condition (停发情形). ``benefit_id`` None: it concerns every benefit of
    the recipient (death, imprisonment, release always do)."""

    event_id: str
    reason: StopReason
    benefit_id: str | None
    occurred_on: date
    recorded_at: datetime  # aware
    suspected: bool  # unverified signal (typically data matching): suspends, never stops
    has_documents: bool  # release: judgment / release certificate / no-criminal-record proof


@dataclass(frozen=True, slots=True)
class CaseFact:
    """A verification case (核实台账) and, once resolved, its outcome."""

    case_id: str
    benefit_id: str | None  # None: every benefit of the recipient
    stop_event_id: str | None  # the suspicion that opened it, if any
    opened_at: datetime
    outcome: CaseOutcome | None = None
    effective_on: date | None = None  # confirmed_ineligible: stopped after this day's month
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResumptionStepFact:
    """A completed step a resumption tier asks for: 告知承诺 (commitment_required), the
    employer's verification (employer_verification), or the agency's continuation decision
    (continuation_procedure, 续发程序)."""

    kind: ResumptionMode
    on: date
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class MoratoriumFact:
    """A pause of automatic suspension (a channel outage, a disaster) for a region prefix and
    benefit types over a date range, inclusive."""

    moratorium_id: str
    agency_prefix: str
    benefit_types: frozenset[BenefitType]
    starts_on: date
    ends_on: date
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RegistryFact:
    """One value of a registry field that decides a cycle, with its two times
    (docs/policy.md §3): the recipient's number of emergency contacts (``benefit_id`` None) or
    one benefit's funeral-subsidy flag (``benefit_id`` given; the value may be None, unknown).
    The value holds from ``valid_from`` until the next value's; the service learned it at
    ``recorded_at``."""

    benefit_id: str | None
    value: int | bool | None
    valid_from: datetime  # aware
    recorded_at: datetime  # aware


@dataclass(frozen=True, slots=True)
class LifeEvents:
    stops: tuple[StopEventFact, ...] = ()
    cases: tuple[CaseFact, ...] = ()
    steps: tuple[ResumptionStepFact, ...] = ()
    moratoria: tuple[MoratoriumFact, ...] = ()
    # Only fields whose value ever changed: with one value, the current one is the whole story.
    registry: tuple[RegistryFact, ...] = ()


NO_EVENTS = LifeEvents()
