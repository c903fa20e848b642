"""The stop-report deadline: which benefits a report concerns, its 20 working days counted on
the loaded calendar, and counting it again when the calendar changes.

Shanxi 三(三): "应当自相关情形发生之日起20个工作日内主动告知待遇发放社会保险经办机构". A deadline
counted over a year without an official arrangement is ``provisional``; loading that year's
arrangement counts it again, with its late flag (late: recorded after the deadline, Beijing
date), in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Benefit, StopReport
from app.db.suspension import stops as stored
from app.domain.events import StopReason, ends
from app.domain.policy import PolicyBook
from app.errors import AppError, NotFound, Unprocessable
from app.services.eligibility.policies import today
from app.services.suspension.calendar import count_deadline


def concerned_benefits(
    benefits: Sequence[Benefit], benefit_id: uuid.UUID | None, reason: StopReason
) -> Sequence[Benefit]:
    """The benefits a report of ``reason`` can end: the one it names, or every one of a type
    the reason ends (a started pension ends the unemployment benefit, never the pension)."""
    if benefit_id is None:
        chosen = [b for b in benefits if ends(reason, b.benefit_type)]
    else:
        chosen = [benefit for benefit in benefits if benefit.id == benefit_id]
        if not chosen:
            raise NotFound("the recipient has no such benefit")
    if not chosen:
        raise Unprocessable(
            f"{reason.value} ends none of the benefits it names or the recipient holds",
            code="stop_reason_not_for_benefit",
        )
    if not ends(reason, chosen[0].benefit_type):
        raise Unprocessable(
            f"{reason.value} does not end a {chosen[0].benefit_type} benefit",
            code="stop_reason_not_for_benefit",
        )
    return chosen


async def recount_deadlines(
    session: AsyncSession, policies: PolicyBook, *, year: int | None = None
) -> int:
    """Count again the provisional deadlines (and, with ``year``, every deadline whose count ran
    through that year, for a corrected arrangement), with their late flags; returns how many
    changed."""
    changed = 0
    for report in await stored.to_recount(session, year):
        working_days = await _working_days_for(session, policies, report)
        if working_days is None:
            continue
        deadline = await count_deadline(session, report.occurred_on, working_days)
        late = today(report.recorded_at) > deadline.day
        if (report.deadline, report.late, report.calendar) == (
            deadline.day,
            late,
            deadline.basis.value,
        ):
            continue
        await stored.set_deadline(session, report.id, deadline.day, late, deadline.basis)
        changed += 1
    return changed


async def provisional_count(session: AsyncSession) -> int:
    """How many stop-report deadlines are still provisional."""
    return await stored.provisional_count(session)


async def _working_days_for(
    session: AsyncSession, policies: PolicyBook, report: StopReport
) -> int | None:
    """The deadline's length in the policy the report was counted under: that of the first
    benefit it concerns, as when it was recorded; None when that benefit is gone."""
    benefits = await stored.benefits_of(session, report.recipient_id)
    try:
        chosen = concerned_benefits(benefits, report.benefit_id, report.reason)
    except AppError:
        return None
    policy = policies.for_agency(chosen[0].agency_code, report.occurred_on)
    return None if policy is None else policy.stop_report_working_days
