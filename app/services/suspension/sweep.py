"""The sweep: status changes that happen with time (a month ends, validity runs out), found by
asking the engine about every benefit and comparing with what the last sweep saw.

Each transition becomes an outbox event keyed by what it is about (the benefit, the kind, and
the validity or month it concerns), so a sweep run twice, or by two replicas at once, announces
it once. Benefits suspended as overdue also get a verification case, so staff can chase them.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import regions
from app.db.base import utcnow
from app.db.engine import SessionMaker
from app.db.facts import load_facts
from app.db.models import BenefitState
from app.db.suspension import states as stored
from app.domain.eligibility import Eligibility
from app.domain.enums import EligibilityStatus
from app.domain.months import Month
from app.domain.policy import Policy, PolicyBook
from app.domain.progress import due_within_lead, standing_of
from app.services.eligibility.answers import evaluate_recipient
from app.services.notices.outbox import EventType, emit
from app.services.suspension.cases import open_case

CHUNK = 2000
OVERDUE_REASONS = frozenset({"overdue", "never_certified"})


@dataclass
class SweepSummary:
    benefits: int = 0
    events: dict[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    # False when ``stop`` ended the sweep before its last chunk.
    finished: bool = False


async def sweep(
    sessions: SessionMaker,
    policies: PolicyBook,
    on: date,
    agency_prefix: str | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> SweepSummary:
    """Evaluate every benefit (of the prefix) on ``on``, a chunk of recipients per
    transaction, and record each transition once. When ``stop`` is set, it ends after the
    chunk in flight: what it committed stays, and sweeping the day again announces none of it
    twice."""
    summary = SweepSummary()
    after: uuid.UUID | None = None
    while stop is None or not stop.is_set():
        async with sessions() as session, session.begin():
            ids = await regions.recipient_ids(session, agency_prefix, after, CHUNK)
            if not ids:
                summary.finished = True
                return summary
            after = ids[-1]
            await _sweep_chunk(session, policies, ids, on, agency_prefix, summary)
    return summary


async def _sweep_chunk(
    session: AsyncSession,
    policies: PolicyBook,
    ids: list[uuid.UUID],
    on: date,
    agency_prefix: str | None,
    summary: SweepSummary,
) -> None:
    now = utcnow()
    recipients = await regions.recipients_with_benefits(session, ids)
    book = await load_facts(session, ids)
    states = await stored.states_of(session, ids)
    for recipient in recipients:
        for benefit, policy, answer in evaluate_recipient(recipient, book, policies, on):
            if agency_prefix is not None and not benefit.agency_code.startswith(agency_prefix):
                continue
            summary.benefits += 1
            previous = states.get(benefit.id)
            for event_type, key in transitions(previous, answer, policy, on, benefit.id):
                payload: dict[str, object] = {
                    "status": answer.status.value,
                    "reason": str(answer.reason),
                    "payable": answer.payable,
                    "valid_through": answer.valid_through.isoformat()
                    if answer.valid_through
                    else None,
                    "on": on.isoformat(),
                }
                if await emit(
                    session,
                    event_type,
                    recipient.id,
                    benefit.id,
                    benefit.agency_code,
                    payload,
                    key,
                    now,
                ):
                    summary.events[event_type.value] = summary.events.get(event_type.value, 0) + 1
            newly_overdue = (
                answer.status is EligibilityStatus.SUSPENDED
                and answer.reason in OVERDUE_REASONS
                and (previous is None or previous.payable or previous.reason != answer.reason)
            )
            if newly_overdue:
                _, opened = await open_case(
                    session,
                    recipient,
                    benefit.id,
                    str(answer.reason),
                    f"overdue:{benefit.id}:{answer.valid_through or 'never'}",
                    now,
                    on,
                )
                summary.cases_opened += opened
            await _record_state(session, benefit.id, answer, on, policy.reminder_lead_months, now)


def transitions(
    previous: BenefitState | None,
    answer: Eligibility,
    policy: Policy,
    on: date,
    benefit_id: uuid.UUID,
) -> list[tuple[EventType, str]]:
    """The events a change from ``previous`` to ``answer`` announces, with their keys."""
    found: list[tuple[EventType, str]] = []
    status = answer.status
    was_payable = previous is None or previous.payable
    if status is EligibilityStatus.STOPPED and (previous is None or previous.status != "stopped"):
        found.append((EventType.STOPPED, f"stopped:{benefit_id}:{answer.stopped_on}"))
    elif status is EligibilityStatus.SUSPENDED and was_payable:
        found.append((EventType.SUSPENDED, f"suspended:{benefit_id}:{Month.of(on)}"))
    elif answer.payable and previous is not None and previous.status == "suspended":
        found.append((EventType.RESUMED, f"resumed:{benefit_id}:{Month.of(on)}"))
    if (
        answer.payable
        and answer.valid_through is not None
        and due_within_lead(answer.valid_through, on, policy.reminder_lead_months)
    ):
        found.append((EventType.DUE_SOON, f"due_soon:{benefit_id}:{answer.valid_through}"))
    return found


async def _record_state(
    session: AsyncSession,
    benefit_id: uuid.UUID,
    answer: Eligibility,
    on: date,
    lead_months: int,
    now: datetime,
) -> None:
    await stored.save_state(
        session,
        benefit_id,
        status=answer.status.value,
        reason=str(answer.reason),
        payable=answer.payable,
        valid_through=answer.valid_through,
        standing=standing_of(answer, on, lead_months).value,
        swept_on=on,
        updated_at=now,
    )
