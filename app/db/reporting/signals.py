"""Risk signals' queries (GET /v1/risk-signals): aggregates over the certifications made in a
window by recipients with a benefit in a region, all attempts counted, passed or not."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Row, String, cast, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.filters import in_regions
from app.db.models import Benefit, Certification, VerificationCase
from app.domain.enums import CertificationResult, Channel


@dataclass(frozen=True, slots=True)
class Window:
    """Certifications occurred from ``start`` through ``end`` by recipients with a benefit
    under ``prefix``."""

    prefix: str
    start: datetime
    end: datetime

    def where(self) -> list[ColumnElement[bool]]:
        region = select(Benefit.recipient_id).where(in_regions(Benefit.agency_code, [self.prefix]))
        return [
            Certification.occurred_at >= self.start,
            Certification.occurred_at <= self.end,
            Certification.recipient_id.in_(region),
        ]


class Key(StrEnum):
    """What certifications are grouped by."""

    RECIPIENT = "recipient_id"
    DEVICE = "device_id"
    OPERATOR = "operator"
    SERVICE_POINT = "service_point"


@dataclass(frozen=True, slots=True)
class Volume:
    key: Any
    certifications: int
    recipients: int
    certification_ids: list[uuid.UUID]  # the first few, oldest first
    truncated: bool


async def busiest(
    session: AsyncSession,
    window: Window,
    key: Key,
    *,
    limit: int,
    ids_per_key: int,
    min_certifications: int | None = None,
    min_recipients: int | None = None,
    failed_only: bool = False,
) -> list[Volume]:
    """Keys whose certifications in the window reach ``min_certifications`` and
    ``min_recipients`` (distinct people), busiest first, each with its first ``ids_per_key``
    certifications."""
    column = getattr(Certification, key.value)
    where = window.where()
    if failed_only:
        where.append(Certification.result == CertificationResult.FAILED)
    count = func.count()
    people = func.count(distinct(Certification.recipient_id))
    having = []
    if min_certifications is not None:
        having.append(count >= min_certifications)
    if min_recipients is not None:
        having.append(people >= min_recipients)
    rows = await session.execute(
        select(column, count, people)
        .where(*where, column.is_not(None))
        .group_by(column)
        .having(*having)
        .order_by(count.desc(), column)
        .limit(limit)
    )
    found = rows.all()
    # The first few certifications of every flagged key in one scan (a query per key would
    # scan the window once per key: 35 s for a province's year on the benchmark).
    ranked = (
        select(
            column.label("key"),
            Certification.id.label("certification_id"),
            func.row_number()
            .over(partition_by=column, order_by=(Certification.occurred_at, Certification.id))
            .label("n"),
        )
        .where(*where, column.in_([value for value, _, _ in found]))
        .subquery()
    )
    behind: dict[Any, list[uuid.UUID]] = {value: [] for value, _, _ in found}
    if found:
        for value, certification_id in await session.execute(
            select(ranked.c.key, ranked.c.certification_id)
            .where(ranked.c.n <= ids_per_key)
            .order_by(ranked.c.key, ranked.c.n)
        ):
            behind[value].append(certification_id)
    return [
        Volume(value, total, recipients, behind[value], total > len(behind[value]))
        for value, total, recipients in found
    ]


async def after_death(
    session: AsyncSession, window: Window, limit: int
) -> Sequence[Row[uuid.UUID, uuid.UUID, uuid.UUID, datetime]]:
    """Certifications in the window that opened a ``certified_after_death`` case, oldest
    first: rows of ``case_id``, ``recipient_id``, ``certification_id``, ``occurred_at``."""
    rows = await session.execute(
        select(
            VerificationCase.id.label("case_id"),
            Certification.recipient_id,
            Certification.id.label("certification_id"),
            Certification.occurred_at,
        )
        .join(Certification, Certification.id == VerificationCase.certification_id)
        .where(VerificationCase.reason == "certified_after_death", *window.where())
        .order_by(Certification.occurred_at)
        .limit(limit)
    )
    return rows.all()


async def residence_mismatches(
    session: AsyncSession, window: Window, limit: int
) -> Sequence[Row[uuid.UUID, uuid.UUID, Channel, str | None, datetime]]:
    """Certifications in the window stored with a ``residence_mismatch`` warning, oldest
    first: rows of ``recipient_id``, ``certification_id``, ``channel``, ``mode``,
    ``occurred_at``."""
    rows = await session.execute(
        select(
            Certification.recipient_id,
            Certification.id.label("certification_id"),
            Certification.channel,
            Certification.mode,
            Certification.occurred_at,
        )
        # The warnings are a JSON list; its text holds the quoted name on both databases.
        .where(*window.where(), cast(Certification.warnings, String).like('%"residence_mismatch"%'))
        .order_by(Certification.occurred_at, Certification.id)
        .limit(limit)
    )
    return rows.all()
