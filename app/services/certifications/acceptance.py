"""Certification acceptance as the ingest applies it: what each rule of app/domain/acceptance.py
reads, and the `AppError` its `Refusal` becomes.

app/services/certifications/ingest.py reads once for a whole batch, then applies these to each
item in request order. A failed check raises the error the item answers with.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from app.auth import Principal
from app.db.facts import BenefitRow, Facts, RecipientRow
from app.domain import acceptance as rules
from app.domain.acceptance import Claim, Judgement, Proof, Refusal
from app.domain.enums import Channel
from app.domain.policy import Policy
from app.errors import AppError, Forbidden, Unprocessable
from app.schemas.certifications import AnyCertificationCreate
from app.schemas.channels import (
    AnyManualDetails,
    ConsularAppDetails,
    DataMatchDetails,
    FaceDetails,
)
from app.services.eligibility.policies import SERVICE_TIMEZONE

T = TypeVar("T")


def refused(refusal: Refusal) -> AppError:
    """The error a refusal answers with."""
    kind = Forbidden if refusal.forbidden else Unprocessable
    return kind(refusal.detail, code=refusal.code)


def unless_refused(verdict: T | Refusal) -> T:
    """The verdict's value; its error raised when it is a refusal."""
    if isinstance(verdict, Refusal):
        raise refused(verdict)
    return verdict


def claim_of(body: AnyCertificationCreate) -> Claim:
    """What the rules read of a request body (built once per item: batches make thousands)."""
    details = body.details
    channel, result, occurred_at = body.channel, body.result, body.occurred_at
    if isinstance(details, FaceDetails | ConsularAppDetails):
        return Claim(
            channel, result, occurred_at, similarity=details.similarity, liveness=details.liveness
        )
    if isinstance(details, AnyManualDetails):
        return Claim(
            channel,
            result,
            occurred_at,
            manual_mode=details.mode,
            document_refs=tuple(details.document_refs),
        )
    if isinstance(details, DataMatchDetails):
        return Claim(channel, result, occurred_at, evidence_date=details.evidence_date)
    return Claim(channel, result, occurred_at)


def require_channel(principal: Principal, channel: Channel) -> None:
    """Each role posts only the channels it operates."""
    refusal = rules.channel_refusal(principal.role, channel)
    if refusal is not None:
        raise refused(refusal)


def require_reach(principal: Principal, person: RecipientRow) -> None:
    principal.require_any_region(
        (benefit.agency_code for benefit in person.benefits),
        province_wide=rules.province_wide(principal.role),
    )


def require_window(window: rules.TimeWindow, occurred_at: datetime) -> None:
    """occurred_at lies in the window (`rules.TimeWindow`)."""
    refusal = window.refusal(occurred_at)
    if refusal is not None:
        raise refused(refusal)


def accepting_policies(
    person: RecipientRow,
    channel: Channel,
    day: date,
    policy_for: Callable[[BenefitRow, date], Policy],
) -> list[Policy]:
    """The policies, among those of the recipient's benefits, that accept this channel."""
    governing = [policy_for(benefit, day) for benefit in person.benefits]
    return unless_refused(rules.accepting_policies(governing, channel))


def judgement(claim: Claim, person: RecipientRow, policies: list[Policy]) -> Judgement:
    """Does it count (`rules.judge`)?"""
    return unless_refused(rules.judge(claim, person.residence, policies))


def proven_at(claim: Claim, recorded_on: date, policies: list[Policy]) -> Proof:
    """When it proves life (`rules.proven_at`), in the service's time zone."""
    return unless_refused(rules.proven_at(claim, recorded_on, policies, SERVICE_TIMEZONE))


def require_documents(claim: Claim) -> None:
    refusal = rules.documents_refusal(claim)
    if refusal is not None:
        raise refused(refusal)


def recorded_death(facts: Facts) -> date | None:
    """The day of the recipient's recorded death, if any (`rules.recorded_death`)."""
    return rules.recorded_death(facts.stops, facts.cases)
