"""Race-free human decisions (issue 15): each service that records a decision takes the
person's lock (app.db.locks) and then asks here whether an earlier decision already settled
what it decides; if so the request is refused with 409 ``already_resolved``, whose body
(``standing``) carries the decision that stands. docs/policy.md §"Decisions that cannot race"
says what "already settled" means for each kind."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import locks
from app.db.models import HomeVisitRequest, ResumptionStep, StopReport, VerificationCase
from app.domain.enums import EligibilityStatus, ResumptionMode
from app.domain.events import StopReason
from app.domain.standing import ConfirmedStop, standing_stop
from app.errors import AlreadyResolved
from app.schemas.eligibility import BenefitEligibility


def case_settled(case: VerificationCase) -> AlreadyResolved:
    return AlreadyResolved(
        "the case is already resolved",
        {
            "decision": "case_resolution",
            "case_id": case.id,
            "outcome": case.outcome,
            "effective_on": case.effective_on,
            "resolved_at": case.resolved_at,
            "resolved_by": case.resolved_by,
        },
    )


def visit_settled(row: HomeVisitRequest) -> AlreadyResolved:
    return AlreadyResolved(
        f"the home-visit request is already {row.status}",
        {
            "decision": "home_visit_outcome",
            "request_id": row.id,
            "status": row.status,
            "outcome": row.outcome,
            "certification_id": row.certification_id,
            "decided_at": row.updated_at,
        },
    )


async def refuse_a_standing_stop(
    session: AsyncSession,
    recipient_id: uuid.UUID,
    reason: StopReason,
    benefit_id: uuid.UUID | None,
    occurred_on: date,
) -> None:
    """A confirmed stop that a confirmed report already decides is refused."""
    confirmed = await locks.confirmed_stop_reports(session, recipient_id)
    index = standing_stop(
        [ConfirmedStop(row.reason, _text(row.benefit_id), row.occurred_on) for row in confirmed],
        ConfirmedStop(reason, _text(benefit_id), occurred_on),
    )
    if index is not None:
        raise _stop_settled(confirmed[index])


async def refuse_a_settled_step(
    session: AsyncSession,
    recipient_id: uuid.UUID,
    kind: ResumptionMode,
    answers: Sequence[BenefitEligibility],
) -> None:
    """A step of a kind already recorded is refused unless a benefit still waits for it (the
    standing step came before the suspension it would answer, or another is needed now)."""
    if any(_waits_for(answer, kind) for answer in answers):
        return
    standing = await locks.newest_step(session, recipient_id, kind)
    if standing is not None:
        raise _step_settled(standing)


def _waits_for(answer: BenefitEligibility, kind: ResumptionMode) -> bool:
    """Certified but withheld until this step, or stopped until it (a continuation)."""
    if answer.resumption is None or answer.resumption.mode is not kind:
        return False
    return answer.reason == kind.value or answer.status is EligibilityStatus.STOPPED


def _stop_settled(report: StopReport) -> AlreadyResolved:
    return AlreadyResolved(
        f"a confirmed {report.reason.value} report already stands",
        {
            "decision": "stop_report",
            "report_id": report.id,
            "reason": report.reason,
            "benefit_id": report.benefit_id,
            "occurred_on": report.occurred_on,
            "reported_by": report.reported_by,
            "recorded_at": report.recorded_at,
        },
    )


def _step_settled(step: ResumptionStep) -> AlreadyResolved:
    standing: dict[str, Any] = {
        "decision": "resumption_step",
        "step_id": step.id,
        "kind": step.kind,
        "completed_on": step.completed_on,
        "employer": step.employer,
        "reference": step.reference,
        "recorded_at": step.recorded_at,
    }
    return AlreadyResolved(f"a {step.kind.value} step already stands", standing)


def _text(benefit_id: uuid.UUID | None) -> str | None:
    return None if benefit_id is None else str(benefit_id)
