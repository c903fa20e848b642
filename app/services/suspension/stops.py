"""Stop reports (停发情形报告) with their working-day deadline, resumption steps, suspension
moratoria and after-the-fact checks. What each changes is decided by the engine."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import locks
from app.db.base import new_id
from app.db.facts import load_facts
from app.db.models import Moratorium, ResumptionStep, StopReport
from app.db.suspension import stops as stored
from app.domain.enums import BenefitType, ResumptionMode, Role
from app.domain.event_dates import ImplausibleDate, check_stop_date
from app.domain.policy import PolicyBook
from app.domain.working_days import DeadlineBasis
from app.errors import Conflict, Forbidden, Unprocessable
from app.protection import IdProtector, RequestDigest
from app.schemas.eligibility import BenefitEligibility
from app.schemas.stops import (
    MoratoriumCreate,
    MoratoriumRead,
    PostCheckItem,
    ResumptionStepRead,
    StopReportCreate,
    StopReportRead,
)
from app.services.accounts import audit
from app.services.eligibility.answers import evaluate_recipient, recipient_eligibility
from app.services.eligibility.policies import SERVICE_TIMEZONE, policy_for, today
from app.services.recipients.registration import get_recipient, lookup_recipient
from app.services.suspension import decisions
from app.services.suspension.calendar import count_deadline
from app.services.suspension.cases import open_case
from app.services.suspension.deadlines import concerned_benefits


async def report_stop(
    session: AsyncSession,
    principal: Principal,
    protector: IdProtector,
    policies: PolicyBook,
    body: StopReportCreate,
    now: datetime,
) -> tuple[StopReportRead, bool]:
    """Record a stop report exactly once per source_ref; a suspicion also opens a case.
    County clients report in their own regions; the data exchange only suspicions."""
    if principal.role is Role.DATA_EXCHANGE and not body.suspected:
        raise Forbidden("the data exchange reports suspected loss only", code="forbidden_role")
    digest = protector.request_digest(body)
    if body.source_ref is not None:
        existing = await _find(session, principal, body.source_ref)
        if existing is not None:
            return await _replay(session, principal, policies, existing, digest, now), False

    if body.id_number is not None:
        recipient = await lookup_recipient(session, protector, principal, body.id_number)
    else:
        assert body.recipient_id is not None
        recipient = await get_recipient(session, principal, body.recipient_id)
    benefits = concerned_benefits(recipient.benefits, body.benefit_id, body.reason)
    principal.require_region(benefit.agency_code for benefit in benefits)
    day = today(now)
    try:
        check_stop_date(
            body.reason,
            body.occurred_on,
            born_on=recipient.birth_date,
            benefits_began=(benefit.start_date for benefit in benefits),
            today=day,
        )
    except ImplausibleDate as refused:
        raise Unprocessable(str(refused), code=refused.code) from None
    policy = policy_for(policies, benefits[0], body.occurred_on)
    deadline = await count_deadline(session, body.occurred_on, policy.stop_report_working_days)
    await locks.lock_recipient(session, recipient.id)
    if body.source_ref is not None:
        # A twin of this request may have committed while this one waited for the lock.
        existing = await _find(session, principal, body.source_ref)
        if existing is not None:
            return await _replay(session, principal, policies, existing, digest, now), False
    if not body.suspected:
        # A suspicion is a signal; a confirmed report is the decision (issue 15).
        await decisions.refuse_a_standing_stop(
            session, recipient.id, body.reason, body.benefit_id, body.occurred_on
        )

    report_id = await stored.insert_once(
        session,
        StopReport(
            id=new_id(),
            recipient_id=recipient.id,
            benefit_id=body.benefit_id,
            reason=body.reason,
            occurred_on=body.occurred_on,
            reported_by=body.reported_by,
            suspected=body.suspected,
            documents=list(body.documents),
            note=body.note,
            deadline=deadline.day,
            late=day > deadline.day,
            calendar=deadline.basis.value,
            source_ref=body.source_ref,
            request_digest=digest,
            client_id=principal.client_id,
            recorded_at=now,
        ),
    )
    if report_id is None:  # a twin request won the race
        existing = await _find(session, principal, body.source_ref)
        assert existing is not None
        return await _replay(session, principal, policies, existing, digest, now), False
    await audit.record(
        session,
        principal.client_id,
        "stop_report.recorded",
        "stop_report",
        report_id,
        now,
        recipient_id=recipient.id,
        detail={"reason": body.reason.value, "suspected": body.suspected},
    )
    if body.suspected:
        await open_case(
            session,
            recipient,
            body.benefit_id,
            f"suspected_{body.reason.value}",
            f"stop:{report_id}",
            now,
            day,
            stop_report_id=report_id,
        )
    report = await stored.get(session, report_id)
    return await _read(session, principal, policies, report, now), True


async def record_step(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    recipient_id: uuid.UUID,
    kind: ResumptionMode,
    completed_on: date,
    now: datetime,
    *,
    employer: str | None = None,
    reference: str | None = None,
) -> ResumptionStepRead:
    """A completed resumption step (county in its regions, or admin)."""
    recipient = await get_recipient(session, principal, recipient_id)
    principal.require_any_region(benefit.agency_code for benefit in recipient.benefits)
    if completed_on > today(now):
        raise Unprocessable("the step's date is in the future", code="occurred_in_future")
    await locks.lock_recipient(session, recipient.id)
    before = await _effects(session, principal, policies, recipient.id, now)
    await decisions.refuse_a_settled_step(session, recipient.id, kind, before)
    step = ResumptionStep(
        recipient_id=recipient.id,
        kind=kind,
        completed_on=completed_on,
        employer=employer,
        reference=reference,
        client_id=principal.client_id,
        recorded_at=now,
    )
    session.add(step)
    await session.flush()
    await audit.record(
        session,
        principal.client_id,
        f"resumption_step.{kind.value}",
        "resumption_step",
        step.id,
        now,
        recipient_id=recipient.id,
    )
    return ResumptionStepRead(
        step_id=step.id,
        recipient_id=recipient.id,
        kind=kind,
        completed_on=completed_on,
        employer=employer,
        reference=reference,
        recorded_at=now,
        effects=await _effects(session, principal, policies, recipient.id, now),
    )


async def create_moratorium(
    session: AsyncSession, principal: Principal, body: MoratoriumCreate, now: datetime
) -> MoratoriumRead:
    row = Moratorium(
        agency_code=body.agency_code,
        benefit_types=[benefit_type.value for benefit_type in body.benefit_types],
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        reason=body.reason,
        client_id=principal.client_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        principal.client_id,
        "moratorium.created",
        "moratorium",
        row.id,
        now,
        detail={
            "agency_code": row.agency_code,
            "starts_on": str(row.starts_on),
            "ends_on": str(row.ends_on),
        },
    )
    return to_moratorium_read(row)


async def list_moratoria(
    session: AsyncSession, principal: Principal, agency_code: str | None
) -> list[MoratoriumRead]:
    return [
        to_moratorium_read(row)
        for row in await stored.moratoria(session)
        if agency_code is None
        or row.agency_code.startswith(agency_code)
        or agency_code.startswith(row.agency_code)
    ]


async def post_checks(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    agency_code: str,
    since: date,
    limit: int,
) -> list[PostCheckItem]:
    """Benefits that came back after more than 12 months withheld (事后核查): found by asking
    the engine, on each certification's day since ``since``, whether it resumed a benefit."""
    principal.require_prefix(agency_code)
    candidates = await stored.certified_since(
        session, agency_code, datetime.combine(since, time(), SERVICE_TIMEZONE)
    )
    items: list[PostCheckItem] = []
    for recipient_id, certification_id, occurred_at in candidates:
        recipient = await get_recipient(session, principal, recipient_id)
        book = await load_facts(session, [recipient.id])
        day = today(occurred_at)
        for benefit, _, answer in evaluate_recipient(recipient, book, policies, day):
            if answer.resumed_after_months is not None and answer.resumed_after_months > 12:
                items.append(
                    PostCheckItem(
                        recipient_id=recipient.id,
                        benefit_id=benefit.id,
                        agency_code=benefit.agency_code,
                        resumed_in=f"{day:%Y-%m}",
                        suspended_months=answer.resumed_after_months,
                        certification_id=certification_id,
                    )
                )
        if len(items) >= limit:
            break
    return items[:limit]


async def _find(
    session: AsyncSession, principal: Principal, source_ref: str | None
) -> StopReport | None:
    return await stored.by_source_ref(session, principal.client_id, source_ref)


async def _replay(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    existing: StopReport,
    digest: RequestDigest,
    now: datetime,
) -> StopReportRead:
    if not digest.matches(existing.request_digest):
        raise Conflict(
            "this source_ref was already used with a different report", code="idempotency_conflict"
        )
    return await _read(session, principal, policies, existing, now)


async def _read(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    report: StopReport,
    now: datetime,
) -> StopReportRead:
    case_id = await stored.case_of(session, report.id)
    return StopReportRead(
        report_id=report.id,
        recipient_id=report.recipient_id,
        benefit_id=report.benefit_id,
        reason=report.reason,
        occurred_on=report.occurred_on,
        reported_by=report.reported_by,
        suspected=report.suspected,
        documents=list(report.documents),
        deadline=report.deadline,
        late=report.late,
        calendar=DeadlineBasis(report.calendar),
        recorded_at=report.recorded_at,
        case_id=case_id,
        effects=await _effects(session, principal, policies, report.recipient_id, now),
    )


async def _effects(
    session: AsyncSession,
    principal: Principal,
    policies: PolicyBook,
    recipient_id: uuid.UUID,
    now: datetime,
) -> list[BenefitEligibility]:
    answer = await recipient_eligibility(session, principal, policies, recipient_id, today(now))
    return answer.benefits


def to_moratorium_read(row: Moratorium) -> MoratoriumRead:
    return MoratoriumRead(
        moratorium_id=row.id,
        agency_code=row.agency_code,
        benefit_types=[BenefitType(value) for value in row.benefit_types],
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        reason=row.reason,
        created_by=row.client_id,
        created_at=row.created_at,
    )
