"""The rules a certification must pass before it is stored, and what they make of it.

Who may post which channel, when it may have happened, which policies accept its channel,
whether its scores count, the residence a manual mode serves, the documents an imprisonment
report demands, and the recorded death that keeps it from counting. Each is a pure function of
plain values: the service (app/services/certifications/acceptance.py) reads what a rule needs
and raises the `AppError` that a `Refusal` names; nothing here reads or raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.domain.enums import CertificationResult, Channel, ManualMode, Residence, Role
from app.domain.events import CaseFact, CaseOutcome, StopEventFact, StopReason
from app.domain.evidence import passive_evidence_problem
from app.domain.policy import Policy

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


@dataclass(frozen=True, slots=True)
class Refusal:
    """A certification refused: the stable code and the message its answer carries;
    ``forbidden`` for a 403 (the caller may not do this at all) rather than a 422."""

    code: str
    detail: str
    forbidden: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """What a certification request claims, as the rules read it."""

    channel: Channel
    result: CertificationResult
    occurred_at: datetime  # aware
    # Face and consular app: the scores the client measured, else None.
    similarity: float | None = None
    liveness: float | None = None
    manual_mode: ManualMode | None = None  # manual certifications only
    document_refs: tuple[str, ...] = ()  # manual certifications only
    evidence_date: date | None = None  # data matches only


@dataclass(frozen=True, slots=True)
class Judgement:
    """Whether a certification counts, the result stored, and the warnings it answers with."""

    counted: bool
    result: CertificationResult
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Proof:
    """When a certification proves life, and the warnings that say the instant moved."""

    at: datetime
    warnings: tuple[str, ...]


def channel_refusal(role: Role, channel: Channel) -> Refusal | None:
    """Each role posts only the channels it operates: a county client may post ``manual``,
    a mobile backend may not."""
    if channel in CHANNELS_BY_ROLE[role]:
        return None
    return Refusal(
        "forbidden_role",
        f"the {role.value} role may not post {channel.value} certifications",
        forbidden=True,
    )


def province_wide(role: Role) -> bool:
    """In-person channels serve the whole province (全省通办): a county client reaches every
    recipient of the province; the other roles only those of their regions."""
    return role is Role.COUNTY


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

    def refusal(self, occurred_at: datetime) -> Refusal | None:
        """Around 2026-03-10T12:00Z with 365 days: 2026-03-10T12:06Z is in the future,
        2025-03-09T12:00Z too old, both ends themselves inside."""
        if occurred_at > self.latest:
            return Refusal("occurred_in_future", "occurred_at is in the future")
        if occurred_at < self.earliest:
            return Refusal("too_old", f"occurred_at is more than {self.max_backdate_days} days ago")
        return None


def accepting_policies(governing: Iterable[Policy], channel: Channel) -> list[Policy] | Refusal:
    """The policies, among those governing the recipient's benefits (one per benefit, maybe
    the same), that accept this channel; refused when none does."""
    distinct = {policy.id: policy for policy in governing}
    accepting = [policy for policy in distinct.values() if policy.accepts(channel)]
    if accepting:
        return accepting
    names = ", ".join(sorted(distinct))
    return Refusal(
        "channel_not_accepted", f"{names} does not accept {channel.value} certifications"
    )


def judge(claim: Claim, residence: Residence, policies: Sequence[Policy]) -> Judgement | Refusal:
    """Does it count? Scores are checked against the strictest accepting policy, whatever the
    client claimed: a "passed" below threshold is stored as failed. A channel or manual mode
    used for a residence it does not serve warns (``residence_mismatch``), or is refused
    where an accepting policy says so."""
    warnings: list[str] = []
    result = claim.result
    if claim.similarity is not None and claim.liveness is not None:
        min_similarity = max(policy.face.min_similarity for policy in policies)
        min_liveness = max(policy.face.min_liveness for policy in policies)
        if result is CertificationResult.PASSED and (
            claim.similarity < min_similarity or claim.liveness < min_liveness
        ):
            result = CertificationResult.FAILED
            warnings.append("below_threshold")
    if claim.channel is Channel.CONSULAR_APP and residence is not Residence.OVERSEAS:
        # Still proof of life; the registry may be out of date.
        warnings.append("residence_mismatch")
    if claim.manual_mode is not None:
        outside = manual_mode_outside_residence(claim.manual_mode, residence, policies)
        if isinstance(outside, Refusal):
            return outside
        if outside:
            warnings.append("residence_mismatch")
    return Judgement(result is CertificationResult.PASSED, result, tuple(warnings))


def manual_mode_outside_residence(
    mode: ManualMode, residence: Residence, policies: Sequence[Policy]
) -> bool | Refusal:
    """Is the recipient's registered residence not one the manual mode serves? Refused when
    an accepting policy says so (the strictest wins), else True: a warning. False when every
    accepting policy lets the mode serve this residence (or lists no rule for the mode)."""
    rules = [
        rule
        for policy in policies
        for rule in policy.manual_modes
        if rule.mode is mode and residence not in rule.residences
    ]
    if any(rule.otherwise == "refuse" for rule in rules):
        return Refusal(
            "manual_mode_residence",
            f"the {mode.value} manual mode is not for a recipient registered as living"
            f" {residence.value.replace('_', ' ')}",
        )
    return bool(rules)


_EVIDENCE_PROBLEMS = {
    "evidence_after_match": "details.evidence_date is after occurred_at, the match that found it",
    "evidence_too_old": "the evidence is older than the policy's data matching allows",
}


def proven_at(
    claim: Claim, recorded_on: date, policies: Sequence[Policy], tz: ZoneInfo
) -> Proof | Refusal:
    """When the certification proves life: a data match counts from its evidence's date (the
    start of that day in ``tz``), not from the batch that found it, and only fresh evidence
    counts (the strictest accepting policy's `data_match.max_evidence_age_months`); refused
    otherwise. Every other channel proves life when it occurred."""
    if claim.evidence_date is None:
        return Proof(claim.occurred_at, ())
    ages = [p.data_match.max_evidence_age_months for p in policies if p.data_match is not None]
    matched_on = claim.occurred_at.astimezone(tz).date()
    problem = passive_evidence_problem(
        claim.evidence_date, matched_on, recorded_on, min(ages, default=0)
    )
    if problem is not None:
        return Refusal(problem, _EVIDENCE_PROBLEMS[problem])
    evidenced = evidence_instant(claim.evidence_date, claim.occurred_at, tz)
    moved = () if evidenced == claim.occurred_at else ("counted_from_evidence_date",)
    return Proof(evidenced, moved)


def evidence_instant(evidence_date: date, occurred_at: datetime, tz: ZoneInfo) -> datetime:
    """The moment a data match proves life: its evidence's day (from 00:00 in ``tz``) when
    that is before the day it was matched, else the match itself. Evidence of 2026-01-05
    matched at 2026-02-01T10:00+08:00 counts from 2026-01-05T00:00+08:00."""
    if evidence_date >= occurred_at.astimezone(tz).date():
        return occurred_at
    return datetime.combine(evidence_date, time.min, tzinfo=tz)


def documents_refusal(claim: Claim) -> Refusal | None:
    """While an imprisonment report stands, only the agency's window, having checked the
    documents (judgment, release certificate, no-criminal-record proof), may certify
    (湘人社办发〔2026〕10号 二(五): 疑似服刑人员……前往参保社保经办机构处理后方可认证)."""
    if (
        claim.channel in SELF_SERVICE
        or claim.manual_mode is not ManualMode.WINDOW
        or not claim.document_refs
    ):
        return Refusal(
            "documents_required",
            "an imprisonment report stands: certify at the agency's window with document_refs",
        )
    return None


def recorded_death(stops: Iterable[StopEventFact], cases: Iterable[CaseFact]) -> date | None:
    """The day of a recorded death: reported as fact, or a suspicion a case confirmed."""
    confirmed = {
        case.stop_event_id for case in cases if case.outcome is CaseOutcome.CONFIRMED_INELIGIBLE
    }
    return min(
        (
            stop.occurred_on
            for stop in stops
            if stop.reason is StopReason.DEATH
            and (not stop.suspected or stop.event_id in confirmed)
        ),
        default=None,
    )


def after_recorded_death(occurred_on: date, death: date | None) -> bool:
    """A registered death overrides evidence of life: a certification of a day after it does
    not count (it is kept for the fraud case only). One on the day of death still counts."""
    return death is not None and occurred_on > death
