"""Eligibility answers: load a recipient's facts, pick each benefit's policy, ask the engine."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar

import orjson
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.facts import (
    BenefitRow,
    FactBook,
    benefit_facts,
    load_facts,
    load_recipient_facts,
    load_recipient_facts_pooled,
    recipient_facts,
)
from app.db.models import (
    Benefit,
    Recipient,
)
from app.db.read_pool import ReadPool
from app.db.replica import Replica, read_fresh
from app.domain.approval import may_approve
from app.domain.eligibility import (
    Eligibility,
    RecipientFacts,
    evaluate_eligibility,
)
from app.domain.policy import Policy, PolicyBook
from app.errors import Conflict, NotFound
from app.schemas.eligibility import (
    BenefitEligibility,
    LastCertification,
    RecipientEligibility,
    Resumption,
)
from app.services.eligibility.policies import SERVICE_TIMEZONE, policy_for
from app.services.recipients.registration import get_recipient, require_read_access

B = TypeVar("B", bound=BenefitRow)


def evaluate_recipient(
    recipient: Recipient,
    book: FactBook,
    policies: PolicyBook,
    on: date,
    known_at: datetime | None = None,
) -> list[tuple[Benefit, Policy, Eligibility]]:
    """Every benefit's answer. With known_at, benefits registered later are left out."""
    return evaluate_benefits(
        recipient.id, recipient_facts(recipient), recipient.benefits, book, policies, on, known_at
    )


def evaluate_benefits(
    recipient_id: uuid.UUID,
    facts: RecipientFacts,
    benefits: Iterable[B],
    book: FactBook,
    policies: PolicyBook,
    on: date,
    known_at: datetime | None = None,
) -> list[tuple[B, Policy, Eligibility]]:
    """`evaluate_recipient` for benefits read as ORM entities or as plain records."""
    certifications = book.certifications(recipient_id)
    events = book.events(recipient_id)
    answers = []
    for benefit in benefits:
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


async def recipient_eligibility_json(
    sessions: Callable[[], AsyncSession],
    pool: ReadPool | None,
    principal: Principal,
    policies: PolicyBook,
    recipient_id: uuid.UUID,
    on: date,
    known_at: datetime | None = None,
    *,
    replica: Replica | None = None,
) -> bytes:
    """`recipient_eligibility`, serialized: the same answer and the same JSON, read in one
    statement on PostgreSQL and written straight to bytes (no ORM entities, no models).

    With ``pool`` the read pool answers alone and no session is made (creating one costs
    about a tenth of this path's CPU); without it, a session from ``sessions`` reads (SQLite,
    or a test's connection whose transaction the pool cannot see). With ``replica``, the
    replica's pool or sessions instead, when it may answer this caller (app/db/replica.py)."""
    if replica is not None:
        return await read_fresh(
            replica,
            principal.client_id,
            lambda replica: recipient_eligibility_json(
                replica.sessions, replica.pool, principal, policies, recipient_id, on, known_at
            ),
            lambda: recipient_eligibility_json(
                sessions, pool, principal, policies, recipient_id, on, known_at
            ),
        )
    if pool is not None:
        loaded = await load_recipient_facts_pooled(pool, recipient_id)
    else:
        session = sessions()
        try:
            loaded = await load_recipient_facts(session, recipient_id)
        finally:
            if session.in_transaction():
                await session.close()
    if loaded is None:
        raise NotFound("no such recipient")
    recipient, book = loaded
    require_read_access(principal, (benefit.agency_code for benefit in recipient.benefits))
    answers = evaluate_benefits(
        recipient.id, recipient_facts(recipient), recipient.benefits, book, policies, on, known_at
    )
    return orjson.dumps(
        {
            "recipient_id": recipient.id,
            "on": on,
            "known_at": None if known_at is None else orjson.Fragment(_instant_json(known_at)),
            "benefits": [_benefit_document(benefit, answer) for benefit, _, answer in answers],
        },
        default=_uuid_text,
    )


def _uuid_text(value: object) -> str:
    # asyncpg's UUIDs subclass uuid.UUID, which orjson renders only when exact.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_INSTANT = TypeAdapter(datetime)


def _instant_json(instant: datetime) -> bytes:
    # pydantic's rendering (UTC as "Z"), as the response model gives it; orjson's differs.
    return _INSTANT.dump_json(instant)


def _benefit_document(benefit: BenefitRow, answer: Eligibility) -> dict[str, Any]:
    """`to_benefit_eligibility(...).model_dump(mode="json")`, key for key; orjson renders UUIDs,
    dates, enums and the +08:00 instants as pydantic does (a test compares the two)."""
    last = answer.last_certification
    return {
        "benefit_id": benefit.id,
        "benefit_type": benefit.benefit_type,
        "agency_code": benefit.agency_code,
        "external_ref": benefit.external_ref,
        "policy": answer.policy_id,
        "payable": answer.payable,
        "status": answer.status,
        "reason": answer.reason,
        "cycle_months": answer.cycle_months,
        "valid_through": answer.valid_through,
        "next_due": answer.next_due,
        "last_certification": None
        if last is None
        else {
            "certification_id": last.certification_id,
            "channel": last.channel,
            "occurred_at": last.occurred_at.astimezone(SERVICE_TIMEZONE),
        },
        "resumption": None if answer.resumption is None else {"mode": answer.resumption},
        "back_pay_months": [str(month) for month in answer.back_pay_months],
        "overpaid_months": [str(month) for month in answer.overpaid_months],
        "moratorium_id": answer.moratorium_id,
        "incarcerated": answer.incarcerated,
    }


def to_benefit_eligibility(benefit: BenefitRow, answer: Eligibility) -> BenefitEligibility:
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
    """Approve a new benefit (待遇核定): allowed once the recipient holds a certification that
    is valid today under this benefit's cycle, or at once when its policy sets no cycle
    (`app.domain.approval`). Approving twice is harmless."""
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
    if not benefit.approved and not may_approve(answer, on):
        raise Conflict(
            "the recipient must complete a first certification before approval",
            code="first_certification_required",
        )
    benefit.approved = True
    await session.flush()
    return to_benefit_eligibility(benefit, answer)
