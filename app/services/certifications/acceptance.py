"""The rules a certification must pass before it is stored, and what they make of it.

Who may post which channel and reach which recipient, when it may have happened, which
policies accept its channel, whether its scores count, the documents an imprisonment report
demands, and the recorded death that keeps it from counting. Each is a function of data
already read, with no I/O: app/services/certifications/ingest.py reads once for a whole batch,
then applies these to each item in request order. A failed check raises the `AppError` the
item answers with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from app.auth import Principal
from app.db.facts import BenefitRow, Facts, RecipientRow
from app.domain.enums import CertificationResult, Channel, ManualMode, Residence, Role
from app.domain.events import CaseOutcome, StopReason
from app.domain.evidence import passive_evidence_problem
from app.domain.policy import Policy
from app.errors import Forbidden, Unprocessable
from app.schemas.certifications import AnyCertificationCreate
from app.schemas.channels import (
    AnyManualDetails,
    ConsularAppDetails,
    DataMatchDetails,
    FaceDetails,
)
from app.services.eligibility.policies import SERVICE_TIMEZONE

CHANNELS_BY_ROLE: dict[Role, frozenset[Channel]] = {
    Role.MOBILE: frozenset({Channel.FACE, Channel.CONSULAR_APP}),
    Role.COUNTY: frozenset({Channel.MANUAL, Channel.GRASSROOTS_TERMINAL, Channel.HOME_VISIT}),
    Role.DATA_EXCHANGE: frozenset({Channel.DATA_MATCH}),
    Role.PAYMENT: frozenset(),
    Role.ADMIN: frozenset(Channel),
}
FUTURE_TOLERANCE = timedelta(minutes=5)
SELF_SERVICE = frozenset(
    {Channel.FACE, Channel.CONSULAR_APP, Channel.GRASSROOTS_TERMINAL, Channel.HOME_VISIT}
)


def require_channel(principal: Principal, channel: Channel) -> None:
    """Each role posts only the channels it operates."""
    if channel not in CHANNELS_BY_ROLE[principal.role]:
        raise Forbidden(
            f"the {principal.role.value} role may not post {channel.value} certifications",
            code="forbidden_role",
        )


def require_reach(principal: Principal, person: RecipientRow) -> None:
    # In-person channels serve the whole province (全省通办); data exchange only its regions.
    principal.require_any_region(
        (benefit.agency_code for benefit in person.benefits),
        province_wide=principal.role is Role.COUNTY,
    )


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """When a certification may have occurred: no further back than the configured days, and
    no further ahead than a client's clock may drift."""

    earliest: datetime
    latest: datetime
    max_backdate_days: int

    @classmethod
    def around(cls, now: datetime, max_backdate_days: int) -> TimeWindow:
        return cls(
            now - timedelta(days=max_backdate_days), now + FUTURE_TOLERANCE, max_backdate_days
        )

    def check(self, occurred_at: datetime) -> None:
        if occurred_at > self.latest:
            raise Unprocessable("occurred_at is in the future", code="occurred_in_future")
        if occurred_at < self.earliest:
            raise Unprocessable(
                f"occurred_at is more than {self.max_backdate_days} days ago", code="too_old"
            )


def accepting_policies(
    person: RecipientRow,
    channel: Channel,
    day: date,
    policy_for: Callable[[BenefitRow, date], Policy],
) -> list[Policy]:
    """The policies, among those of the recipient's benefits, that accept this channel."""
    governing = {}
    for benefit in person.benefits:
        policy = policy_for(benefit, day)
        governing[policy.id] = policy
    accepting = [policy for policy in governing.values() if policy.accepts(channel)]
    if not accepting:
        names = ", ".join(sorted(governing))
        raise Unprocessable(
            f"{names} does not accept {channel.value} certifications",
            code="channel_not_accepted",
        )
    return accepting


def judgement(
    body: AnyCertificationCreate, person: RecipientRow, policies: list[Policy]
) -> tuple[bool, CertificationResult, list[str]]:
    """Does it count? Scores are checked against the strictest accepting policy, whatever the
    client claimed; a below-threshold "passed" is stored as failed."""
    warnings: list[str] = []
    result = body.result
    details = body.details
    if isinstance(details, FaceDetails | ConsularAppDetails):
        min_similarity = max(policy.face.min_similarity for policy in policies)
        min_liveness = max(policy.face.min_liveness for policy in policies)
        if result is CertificationResult.PASSED and (
            details.similarity < min_similarity or details.liveness < min_liveness
        ):
            result = CertificationResult.FAILED
            warnings.append("below_threshold")
    if body.channel is Channel.CONSULAR_APP and person.residence is not Residence.OVERSEAS:
        # Still proof of life; the registry may be out of date.
        warnings.append("residence_mismatch")
    if isinstance(details, AnyManualDetails) and _outside_its_residences(
        details.mode, person.residence, policies
    ):
        warnings.append("residence_mismatch")
    return result is CertificationResult.PASSED, result, warnings


def _outside_its_residences(mode: ManualMode, residence: Residence, policies: list[Policy]) -> bool:
    """Is the recipient's registered residence not one the manual mode serves? Refused when an
    accepting policy says so (the strictest wins), else a warning."""
    rules = [
        rule
        for policy in policies
        for rule in policy.manual_modes
        if rule.mode is mode and residence not in rule.residences
    ]
    if any(rule.otherwise == "refuse" for rule in rules):
        raise Unprocessable(
            f"the {mode.value} manual mode is not for a recipient registered as living"
            f" {residence.value.replace('_', ' ')}",
            code="manual_mode_residence",
        )
    return bool(rules)


_EVIDENCE_PROBLEMS = {
    "evidence_after_match": "details.evidence_date is after occurred_at, the match that found it",
    "evidence_too_old": "the evidence is older than the policy's data matching allows",
}


def proven_at(
    body: AnyCertificationCreate, recorded_on: date, policies: list[Policy]
) -> tuple[datetime, list[str]]:
    """When the certification proves life, and the warning that says it moved: a data match
    counts from its evidence's date (the start of that day in Beijing), not from the batch
    that found it, and only fresh evidence counts (the strictest accepting policy's
    `data_match.max_evidence_age_months`); refused otherwise."""
    details = body.details
    if not isinstance(details, DataMatchDetails):
        return body.occurred_at, []
    ages = [p.data_match.max_evidence_age_months for p in policies if p.data_match is not None]
    matched_on = body.occurred_at.astimezone(SERVICE_TIMEZONE).date()
    problem = passive_evidence_problem(
        details.evidence_date, matched_on, recorded_on, min(ages, default=0)
    )
    if problem is not None:
        raise Unprocessable(_EVIDENCE_PROBLEMS[problem], code=problem)
    evidenced = evidence_instant(details, body.occurred_at)
    return evidenced, [] if evidenced == body.occurred_at else ["counted_from_evidence_date"]


def evidence_instant(details: DataMatchDetails, occurred_at: datetime) -> datetime:
    """The moment a data match proves life: its evidence's day (from 00:00 Beijing time) when
    that is before the day it was matched, else the match itself."""
    if details.evidence_date >= occurred_at.astimezone(SERVICE_TIMEZONE).date():
        return occurred_at
    return datetime.combine(details.evidence_date, time.min, tzinfo=SERVICE_TIMEZONE)


def require_documents(body: AnyCertificationCreate) -> None:
    """While an imprisonment report stands, only the agency's window, having checked the
    documents (judgment, release certificate, no-criminal-record proof), may certify
    (湘人社办发〔2026〕10号 二(五): 疑似服刑人员……前往参保社保经办机构处理后方可认证)."""
    details = body.details
    if (
        body.channel in SELF_SERVICE
        or getattr(details, "mode", None) != ManualMode.WINDOW
        or not getattr(details, "document_refs", ())
    ):
        raise Unprocessable(
            "an imprisonment report stands: certify at the agency's window with document_refs",
            code="documents_required",
        )


def recorded_death(facts: Facts) -> date | None:
    """The day of a recorded death: reported as fact, or a suspicion a case confirmed."""
    confirmed = {
        case.stop_event_id
        for case in facts.cases
        if case.outcome is CaseOutcome.CONFIRMED_INELIGIBLE
    }
    return min(
        (
            stop.occurred_on
            for stop in facts.stops
            if stop.reason is StopReason.DEATH
            and (not stop.suspected or stop.event_id in confirmed)
        ),
        default=None,
    )
