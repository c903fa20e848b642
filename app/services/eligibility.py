"""Eligibility answers: load a recipient's facts, pick each benefit's policy, ask the engine."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.models import (
    Benefit,
    Recipient,
)
from app.domain.eligibility import (
    Eligibility,
    evaluate_eligibility,
)
from app.domain.enums import Role
from app.domain.policy import Policy, PolicyBook
from app.errors import Conflict, NotFound
from app.schemas.eligibility import (
    BenefitEligibility,
    LastCertification,
    RecipientEligibility,
    Resumption,
)
from app.services.facts import FactBook, benefit_facts, load_facts, recipient_facts
from app.services.policies import SERVICE_TIMEZONE, policy_for
from app.services.recipients import get_recipient


def evaluate_recipient(
    recipient: Recipient,
    book: FactBook,
    policies: PolicyBook,
    on: date,
    known_at: datetime | None = None,
) -> list[tuple[Benefit, Policy, Eligibility]]:
    """Every benefit's answer. With known_at, benefits registered later are left out."""
    facts = recipient_facts(recipient)
    certifications = book.certifications(recipient.id)
    events = book.events(recipient.id)
    answers = []
    for benefit in recipient.benefits:
        if known_at is not None and benefit.created_at > known_at:
            continue
        policy = policy_for(policies, benefit, on)
        decision = evaluate_eligibility(
            benefit_facts(benefit), facts, certifications, policy, on, known_at, events=events
        )
        answers.append((benefit, policy, decision))
    return answers


async def recipient_eligibility(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    recipient_id: uuid.UUID,
    on: date,
    known_at: datetime | None = None,
) -> RecipientEligibility:
    recipient = await get_recipient(session, principal, recipient_id)
    book = await load_facts(session, [recipient.id])
    answers = evaluate_recipient(recipient, book, policies, on, known_at)
    return RecipientEligibility(
        recipient_id=recipient.id,
        on=on,
        known_at=known_at,
        benefits=[to_benefit_eligibility(benefit, answer) for benefit, _, answer in answers],
    )


def to_benefit_eligibility(benefit: Benefit, answer: Eligibility) -> BenefitEligibility:
    last = answer.last_certification
    return BenefitEligibility(
        benefit_id=benefit.id,
        benefit_type=benefit.benefit_type,
        agency_code=benefit.agency_code,
        external_ref=benefit.external_ref,
        policy=answer.policy_id,
        payable=answer.payable,
        status=answer.status,
        reason=answer.reason,
        cycle_months=answer.cycle_months,
        valid_through=answer.valid_through,
        next_due=answer.next_due,
        last_certification=None
        if last is None
        else LastCertification(
            certification_id=uuid.UUID(last.certification_id),
            channel=last.channel,
            occurred_at=last.occurred_at.astimezone(SERVICE_TIMEZONE),
        ),
        resumption=None if answer.resumption is None else Resumption(mode=answer.resumption),
        back_pay_months=[str(month) for month in answer.back_pay_months],
        moratorium_id=None if answer.moratorium_id is None else uuid.UUID(answer.moratorium_id),
        incarcerated=answer.incarcerated,
        overpaid_months=[str(month) for month in answer.overpaid_months],
    )


async def approve_benefit(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    recipient_id: uuid.UUID,
    benefit_id: uuid.UUID,
    on: date,
) -> BenefitEligibility:
    """Approve a new benefit (待遇核定): allowed only once the recipient holds a certification
    that is valid today under this benefit's cycle. Approving twice is harmless."""
    principal.require(Role.COUNTY)
    recipient = await get_recipient(session, principal, recipient_id)
    benefit = next((b for b in recipient.benefits if b.id == benefit_id), None)
    if benefit is None:
        raise NotFound("the recipient has no such benefit")
    principal.require_region([benefit.agency_code])
    book = await load_facts(session, [recipient.id])
    as_approved = replace(benefit_facts(benefit), approved=True)
    policy = policy_for(policies, benefit, on)
    answer = evaluate_eligibility(
        as_approved,
        recipient_facts(recipient),
        book.certifications(recipient.id),
        policy,
        on,
        events=book.events(recipient.id),
    )
    certified = answer.last_certification is not None and (
        answer.valid_through is None or answer.valid_through >= on
    )
    if not benefit.approved and not certified:
        raise Conflict(
            "the recipient must complete a first certification before approval",
            code="first_certification_required",
        )
    benefit.approved = True
    await session.flush()
    return to_benefit_eligibility(benefit, answer)
