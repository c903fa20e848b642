"""Batch eligibility checks: up to 10,000 recipients in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.eligibility import recipients_with_benefits
from app.db.facts import load_facts
from app.db.replica import Replica, read_fresh
from app.domain.months import Month
from app.domain.policy import PolicyBook
from app.protection import IdProtector
from app.schemas.payments import CheckResult, EligibilityCheck, EligibilityCheckResult
from app.services.eligibility.answers import evaluate_recipient, to_benefit_eligibility
from app.services.payment_runs.runs import decision_day
from app.services.recipients.id_lookup import find_recipient_ids


async def check_eligibility_fresh(
    replica: Replica | None,
    session: AsyncSession,
    principal: Principal,
    protector: IdProtector,
    policies: PolicyBook,
    body: EligibilityCheck,
    now: datetime,
) -> EligibilityCheckResult:
    """`check_eligibility` on the read replica when it may answer this caller
    (app/db/replica.py), else in ``session``."""

    async def on_replica(replica: Replica) -> EligibilityCheckResult:
        async with replica.sessions() as replica_session:
            return await check_eligibility(
                replica_session, principal, protector, policies, body, now
            )

    return await read_fresh(
        replica,
        principal.client_id,
        on_replica,
        lambda: check_eligibility(session, principal, protector, policies, body, now),
    )


async def check_eligibility(
    session: AsyncSession,
    principal: Principal,
    protector: IdProtector,
    policies: PolicyBook,
    body: EligibilityCheck,
    now: datetime,
) -> EligibilityCheckResult:
    """Answers in request order; unknown recipients are ``not_found``. Queries: one per
    5,000 ID numbers (during a key rotation, again for those not found: id_lookup.py), one
    per 5,000 recipients with their benefits, and load_facts's five."""
    on = decision_day(Month.parse(body.month), now)
    numbers = [key.id_number for key in body.recipients if key.id_number]
    by_number = await find_recipient_ids(session, protector, numbers)
    wanted = [
        by_number.get(key.id_number) if key.id_number else key.recipient_id
        for key in body.recipients
    ]
    ids = list({rid for rid in wanted if rid is not None})
    recipients = await recipients_with_benefits(session, ids)
    book = await load_facts(session, list(recipients))
    results = []
    for index, rid in enumerate(wanted):
        recipient = recipients.get(rid) if rid is not None else None
        if recipient is None:
            results.append(
                CheckResult(
                    index=index,
                    status="not_found",
                    recipient_id=None,
                    id_number_masked=None,
                    benefits=[],
                )
            )
            continue
        answers = evaluate_recipient(recipient, book, policies, on)
        results.append(
            CheckResult(
                index=index,
                status="found",
                recipient_id=recipient.id,
                id_number_masked=recipient.id_masked,
                benefits=[
                    to_benefit_eligibility(benefit, answer) for benefit, _, answer in answers
                ],
            )
        )
    return EligibilityCheckResult(month=body.month, on=on, results=results)
