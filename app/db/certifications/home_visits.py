"""The queries of home-visit requests (上门认证申请) and of the outreach list."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.filters import in_regions
from app.db.keyset import Keyset
from app.db.models import Certification, HomeVisitRequest, VerificationCase
from app.domain.enums import CertificationResult, Channel

_OLDEST_FIRST = Keyset(HomeVisitRequest.created_at, HomeVisitRequest.id)


async def requests_in(
    session: AsyncSession, recipient_id: uuid.UUID, statuses: Sequence[str]
) -> list[HomeVisitRequest]:
    """The recipient's requests in one of these statuses."""
    return list(
        await session.scalars(
            select(HomeVisitRequest).where(
                HomeVisitRequest.recipient_id == recipient_id,
                HomeVisitRequest.status.in_(statuses),
            )
        )
    )


async def requests_page(
    session: AsyncSession,
    prefixes: Sequence[str] | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[HomeVisitRequest], str | None]:
    """Requests of agencies under ``prefixes`` (None: every agency; empty: none), oldest
    first on (created_at, id), and the next page's cursor."""
    query = select(HomeVisitRequest)
    if prefixes is not None:
        query = query.where(
            in_regions(HomeVisitRequest.agency_code, prefixes) if prefixes else false()
        )
    if status is not None:
        query = query.where(HomeVisitRequest.status == status)
    rows = list(await session.scalars(_OLDEST_FIRST.query(query, limit, cursor)))
    return _OLDEST_FIRST.cut(rows, limit)


async def request(session: AsyncSession, request_id: uuid.UUID) -> HomeVisitRequest | None:
    """The request as stored now (replacing what the session had loaded)."""
    return await session.get(HomeVisitRequest, request_id, populate_existing=True)


async def transition(
    session: AsyncSession,
    request_id: uuid.UUID,
    allowed: Sequence[str],
    status: str,
    now: datetime,
    values: Mapping[str, object],
) -> bool:
    """Move the request to ``status`` if it is in one of ``allowed``; False when it was not. A
    conditional UPDATE: of two racing transitions, only one finds the status it expects."""
    changed = await session.scalar(
        update(HomeVisitRequest)
        .where(HomeVisitRequest.id == request_id, HomeVisitRequest.status.in_(allowed))
        .values(status=status, updated_at=now, **values)
        .returning(HomeVisitRequest.id)
        .execution_options(synchronize_session=False)
    )
    return changed is not None


async def complete(
    session: AsyncSession,
    request_id: uuid.UUID,
    recipient_id: uuid.UUID,
    active: Sequence[str],
    certification_id: uuid.UUID,
    at: datetime,
) -> uuid.UUID | None:
    """Complete the recipient's request with this certification if it is still active; its
    id, None when it is not (or is another recipient's)."""
    return await session.scalar(
        update(HomeVisitRequest)
        .where(
            HomeVisitRequest.id == request_id,
            HomeVisitRequest.recipient_id == recipient_id,
            HomeVisitRequest.status.in_(active),
        )
        .values(status="completed", certification_id=certification_id, updated_at=at)
        .returning(HomeVisitRequest.id)
        .execution_options(synchronize_session=False)
    )


async def case_ids(session: AsyncSession, dedupe_keys: Sequence[str]) -> dict[str, uuid.UUID]:
    """The verification cases opened under these dedupe keys, by key."""
    if not dedupe_keys:
        return {}
    found = await session.execute(
        select(VerificationCase.dedupe_key, VerificationCase.id).where(
            VerificationCase.dedupe_key.in_(list(dedupe_keys))
        )
    )
    return {key: case_id for key, case_id in found if key is not None}


async def failed_self_service(
    session: AsyncSession,
    recipient_ids: set[uuid.UUID],
    on: date,
    lookback_days: int,
    tz: ZoneInfo,
) -> set[uuid.UUID]:
    """Those among ``recipient_ids`` with a failed self-service attempt (face, consular app, a
    self-service terminal) in the ``lookback_days`` up to the end of ``on`` (in ``tz``)."""
    if not recipient_ids:
        return set()
    end = datetime.combine(on + timedelta(days=1), time(), tz)
    rows = await session.scalars(
        select(Certification.recipient_id)
        .distinct()
        .where(
            Certification.recipient_id.in_(list(recipient_ids)),
            Certification.result == CertificationResult.FAILED,
            or_(
                Certification.channel.in_([Channel.FACE, Channel.CONSULAR_APP]),
                and_(
                    Certification.channel == Channel.GRASSROOTS_TERMINAL,
                    Certification.mode == "self_service_terminal",
                ),
            ),
            Certification.occurred_at >= end - timedelta(days=lookback_days),
            Certification.occurred_at < end,
        )
    )
    return set(rows)
