"""Certification ingest: who may post what, evidence, exactly-once, and validity at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.base import new_id
from app.db.models import Certification, Recipient
from app.db.upsert import insert_for
from app.domain.eligibility import CertificationFact
from app.domain.enums import CertificationResult, Channel, ManualMode, Residence, Role
from app.domain.events import CaseOutcome, StopReason
from app.domain.policy import Policy, PolicyBook
from app.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable, validation_problem
from app.protection import IdProtector
from app.schemas.certifications import (
    AnyCertificationCreate,
    BatchItemResult,
    BatchResult,
    BenefitValidity,
    CertificationCreate,
    CertificationRead,
    Revocation,
)
from app.schemas.channels import ConsularAppDetails, FaceDetails, details_columns
from app.schemas.common import Page
from app.services import audit
from app.services.cases import open_case
from app.services.eligibility import evaluate_recipient
from app.services.facts import FactBook, load_facts
from app.services.home_visits import complete_from_certification
from app.services.outbox import EventType, emit
from app.services.pagination import decode_cursor, encode_cursor
from app.services.policies import policy_for, today
from app.services.recipients import get_recipient

CHANNELS_BY_ROLE: dict[Role, frozenset[Channel]] = {
    Role.MOBILE: frozenset({Channel.FACE, Channel.CONSULAR_APP}),
    Role.COUNTY: frozenset({Channel.MANUAL, Channel.GRASSROOTS_TERMINAL, Channel.HOME_VISIT}),
    Role.DATA_EXCHANGE: frozenset({Channel.DATA_MATCH}),
    Role.PAYMENT: frozenset(),
    Role.ADMIN: frozenset(Channel),
}
FUTURE_TOLERANCE = timedelta(minutes=5)
_BODY = TypeAdapter[AnyCertificationCreate](CertificationCreate)


@dataclass(frozen=True, slots=True)
class Ingest:
    """Everything a certification is judged against, fixed for one request."""

    principal: Principal
    protector: IdProtector
    policies: PolicyBook
    now: datetime
    max_backdate_days: int


async def record_certification(
    session: AsyncSession,
    ingest: Ingest,
    body: AnyCertificationCreate,
    idempotency_key: str | None = None,
) -> tuple[CertificationRead, bool]:
    """Store one certification exactly once; return it with every benefit's new validity and
    whether it was created (False: a replay of the same request, answered with the original)."""
    principal = ingest.principal
    if body.channel not in CHANNELS_BY_ROLE[principal.role]:
        raise Forbidden(
            f"the {principal.role.value} role may not post {body.channel.value} certifications",
            code="forbidden_role",
        )
    digest = ingest.protector.request_digest(body)
    existing = await _find_replay(session, principal, body.source_ref, idempotency_key)
    if existing is not None:
        return await _replay(session, ingest, existing, digest), False

    recipient = await _resolve_recipient(session, ingest, body)
    _check_time(body.occurred_at, ingest)
    policies = _accepting_policies(ingest.policies, recipient, body)
    counted, result, warnings = _judge(body, recipient, policies)
    book = await load_facts(session, [recipient.id])
    standing = evaluate_recipient(recipient, book, ingest.policies, today(ingest.now))
    if any(answer.incarcerated for _, _, answer in standing):
        _require_documents(body)
    death = _recorded_death(book, recipient.id)
    after_death = death is not None and today(body.occurred_at) > death
    if after_death:
        # A registered death overrides evidence of life: keep it for the fraud case only.
        counted = False
        warnings.append("after_recorded_death")
    columns = details_columns(body.details)
    inserted = await session.scalar(
        insert_for(session, Certification)
        .values(
            id=new_id(),
            recipient_id=recipient.id,
            channel=body.channel,
            result=result,
            counted=counted,
            occurred_at=body.occurred_at,
            recorded_at=ingest.now,
            client_id=principal.client_id,
            source_ref=body.source_ref,
            idempotency_key=idempotency_key,
            request_digest=digest,
            details=body.details.model_dump(mode="json"),
            warnings=warnings,
            imported=False,
            mode=getattr(body.details, "mode", None),
            **columns,
        )
        .on_conflict_do_nothing()
        .returning(Certification.id)
    )
    if inserted is None:
        # A twin request won the race between our look-up and our insert.
        existing = await _find_replay(session, principal, body.source_ref, idempotency_key)
        assert existing is not None
        return await _replay(session, ingest, existing, digest), False
    if after_death:
        await open_case(
            session,
            recipient,
            None,
            "certified_after_death",
            f"after_death:{inserted}",
            ingest.now,
            today(ingest.now),
            certification_id=inserted,
        )
    if body.channel is Channel.HOME_VISIT:
        # The visit answers a home-visit request: complete it in this transaction.
        await complete_from_certification(session, inserted)
    await audit.record(
        session,
        principal.client_id,
        "certification.recorded",
        "certification",
        inserted,
        ingest.now,
        recipient_id=recipient.id,
        detail={"channel": body.channel.value, "counted": counted, "warnings": warnings},
    )
    if counted:
        for benefit in recipient.benefits:
            await emit(
                session,
                EventType.CERTIFIED,
                recipient.id,
                benefit.id,
                benefit.agency_code,
                {"certification_id": str(inserted), "channel": body.channel.value},
                f"certified:{inserted}:{benefit.id}",
                ingest.now,
            )
    certification = await session.get_one(Certification, inserted)
    if counted:
        # The facts loaded above, plus this certification: what a fresh load would return.
        book.by_recipient[recipient.id].certifications.append(
            CertificationFact(
                certification_id=str(certification.id),
                channel=certification.channel,
                occurred_at=certification.occurred_at,
                recorded_at=certification.recorded_at,
                counted=True,
            )
        )
    return _to_read(certification, _validity(recipient, book, ingest)), True


async def record_batch(
    session: AsyncSession, ingest: Ingest, items: list[dict[str, object]]
) -> BatchResult:
    """Each item succeeds or fails on its own, inside its own savepoint."""
    results = []
    for index, raw in enumerate(items):
        try:
            body = _BODY.validate_python(raw)
        except ValidationError as exc:
            problem = validation_problem(exc.errors())
            results.append(BatchItemResult(index=index, status=422, problem=problem))
            continue
        try:
            async with session.begin_nested():
                read, created = await record_certification(session, ingest, body)
        except AppError as exc:
            results.append(
                BatchItemResult(index=index, status=exc.status, problem=exc.to_problem())
            )
            continue
        results.append(
            BatchItemResult(index=index, status=201 if created else 200, certification=read)
        )
    return BatchResult(results=results)


async def get_certification(
    session: AsyncSession, ingest: Ingest, certification_id: uuid.UUID
) -> CertificationRead:
    certification = await _load_readable(session, ingest.principal, certification_id)
    recipient = await get_recipient(session, ingest.principal, certification.recipient_id)
    return await _read(session, ingest, certification, recipient)


async def list_certifications(
    session: AsyncSession,
    ingest: Ingest,
    recipient_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[CertificationRead]:
    """Newest first, keyset-paginated on (occurred_at, id)."""
    ingest.principal.require(Role.COUNTY, Role.DATA_EXCHANGE)
    recipient = await get_recipient(session, ingest.principal, recipient_id)
    query = select(Certification).where(Certification.recipient_id == recipient.id)
    if cursor is not None:
        occurred_at, last_id = decode_cursor(cursor)
        query = query.where(
            tuple_(Certification.occurred_at, Certification.id) < tuple_(occurred_at, last_id)
        )
    rows = list(
        await session.scalars(
            query.order_by(Certification.occurred_at.desc(), Certification.id.desc()).limit(
                limit + 1
            )
        )
    )
    page, more = rows[:limit], len(rows) > limit
    benefits = _validity(recipient, await load_facts(session, [recipient.id]), ingest)
    return Page(
        items=[_to_read(row, benefits) for row in page],
        next_cursor=encode_cursor(page[-1].occurred_at, page[-1].id) if more else None,
    )


async def revoke_certification(
    session: AsyncSession, ingest: Ingest, certification_id: uuid.UUID, reason: str
) -> CertificationRead:
    """Withdraw the validity a certification gave; the record stays, marked revoked.
    Revocation stays within the client's own regions."""
    principal = ingest.principal
    principal.require(Role.COUNTY)
    certification = await _load_readable(session, principal, certification_id)
    recipient = await get_recipient(session, principal, certification.recipient_id)
    principal.require_any_region(benefit.agency_code for benefit in recipient.benefits)
    # A conditional UPDATE, not read-then-write: of two racing revocations exactly one
    # finds the row unrevoked.
    revoked = await session.scalar(
        update(Certification)
        .where(Certification.id == certification.id, Certification.revoked_at.is_(None))
        .values(revoked_at=ingest.now, revoked_by=principal.client_id, revoke_reason=reason)
        .returning(Certification.id)
        .execution_options(synchronize_session=False)
    )
    if revoked is None:
        raise Conflict("the certification is already revoked", code="already_revoked")
    await audit.record(
        session,
        principal.client_id,
        "certification.revoked",
        "certification",
        certification.id,
        ingest.now,
        recipient_id=certification.recipient_id,
        detail={"reason": reason},
    )
    await session.refresh(certification)
    return await _read(session, ingest, certification, recipient)


# --- steps of record_certification ----------------------------------------------------------


async def _find_replay(
    session: AsyncSession,
    principal: Principal,
    source_ref: str | None,
    idempotency_key: str | None,
) -> Certification | None:
    keys = []
    if source_ref is not None:
        keys.append(Certification.source_ref == source_ref)
    if idempotency_key is not None:
        keys.append(Certification.idempotency_key == idempotency_key)
    if not keys:
        return None
    return await session.scalar(
        select(Certification)
        .where(Certification.client_id == principal.client_id, or_(*keys))
        .limit(1)
    )


async def _replay(
    session: AsyncSession, ingest: Ingest, existing: Certification, digest: str
) -> CertificationRead:
    if existing.request_digest != digest:
        raise Conflict(
            "this source_ref or Idempotency-Key was already used with a different body",
            code="idempotency_conflict",
        )
    recipient = await get_recipient(session, ingest.principal, existing.recipient_id)
    return await _read(session, ingest, existing, recipient)


async def _resolve_recipient(
    session: AsyncSession, ingest: Ingest, body: AnyCertificationCreate
) -> Recipient:
    if body.id_number is not None:
        recipient_id = await session.scalar(
            select(Recipient.id).where(
                Recipient.id_digest == ingest.protector.digest(body.id_number)
            )
        )
        if recipient_id is None:
            raise NotFound("no recipient has this ID number")
    else:
        assert body.recipient_id is not None
        recipient_id = body.recipient_id
    # In-person channels serve the whole province (全省通办); data exchange only its regions.
    return await get_recipient(session, ingest.principal, recipient_id)


def _check_time(occurred_at: datetime, ingest: Ingest) -> None:
    if occurred_at > ingest.now + FUTURE_TOLERANCE:
        raise Unprocessable("occurred_at is in the future", code="occurred_in_future")
    if occurred_at < ingest.now - timedelta(days=ingest.max_backdate_days):
        raise Unprocessable(
            f"occurred_at is more than {ingest.max_backdate_days} days ago", code="too_old"
        )


def _accepting_policies(
    policies: PolicyBook, recipient: Recipient, body: AnyCertificationCreate
) -> list[Policy]:
    """The policies, among those of the recipient's benefits, that accept this channel."""
    day = today(body.occurred_at)
    governing = {}
    for benefit in recipient.benefits:
        policy = policy_for(policies, benefit, day)
        governing[policy.id] = policy
    accepting = [policy for policy in governing.values() if policy.accepts(body.channel)]
    if not accepting:
        names = ", ".join(sorted(governing))
        raise Unprocessable(
            f"{names} does not accept {body.channel.value} certifications",
            code="channel_not_accepted",
        )
    return accepting


def _judge(
    body: AnyCertificationCreate, recipient: Recipient, policies: list[Policy]
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
    if body.channel is Channel.CONSULAR_APP and recipient.residence is not Residence.OVERSEAS:
        # Still proof of life; the registry may be out of date.
        warnings.append("residence_mismatch")
    return result is CertificationResult.PASSED, result, warnings


SELF_SERVICE = frozenset(
    {Channel.FACE, Channel.CONSULAR_APP, Channel.GRASSROOTS_TERMINAL, Channel.HOME_VISIT}
)


def _require_documents(body: AnyCertificationCreate) -> None:
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


def _recorded_death(book: FactBook, recipient_id: uuid.UUID) -> date | None:
    """The day of a recorded death: reported as fact, or a suspicion a case confirmed."""
    facts = book.by_recipient[recipient_id]
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


# --- reading --------------------------------------------------------------------------------


async def _load_readable(
    session: AsyncSession, principal: Principal, certification_id: uuid.UUID
) -> Certification:
    certification = await session.get(Certification, certification_id)
    if certification is None:
        raise NotFound("no such certification")
    if principal.role is Role.PAYMENT:
        raise Forbidden("the payment role reads eligibility, not certifications")
    if principal.role is Role.MOBILE and certification.client_id != principal.client_id:
        # A mobile backend reads back what it posted, nothing else.
        raise NotFound("no such certification")
    return certification


async def _read(
    session: AsyncSession, ingest: Ingest, certification: Certification, recipient: Recipient
) -> CertificationRead:
    book = await load_facts(session, [recipient.id])
    return _to_read(certification, _validity(recipient, book, ingest))


def _validity(recipient: Recipient, book: FactBook, ingest: Ingest) -> list[BenefitValidity]:
    answers = evaluate_recipient(recipient, book, ingest.policies, today(ingest.now))
    return [
        BenefitValidity(
            benefit_id=benefit.id,
            status=answer.status,
            payable=answer.payable,
            valid_through=answer.valid_through,
            next_due=answer.next_due,
        )
        for benefit, _, answer in answers
    ]


def _to_read(certification: Certification, benefits: list[BenefitValidity]) -> CertificationRead:
    revocation = None
    if certification.revoked_at is not None:
        revocation = Revocation(
            revoked_at=certification.revoked_at,
            revoked_by=str(certification.revoked_by),
            reason=certification.revoke_reason or "",
        )
    return CertificationRead(
        certification_id=certification.id,
        recipient_id=certification.recipient_id,
        channel=certification.channel,
        result=certification.result,
        occurred_at=certification.occurred_at,
        recorded_at=certification.recorded_at,
        counted=certification.counted and certification.revoked_at is None,
        warnings=list(certification.warnings),
        source_ref=certification.source_ref,
        recorded_by=str(certification.client_id),
        imported=certification.imported,
        details=dict(certification.details),
        revocation=revocation,
        benefits=benefits,
    )
