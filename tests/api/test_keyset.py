"""The one keyset pagination (app/db/keyset.py) on both databases: pages follow one another
without a gap or a repeat, ties on the instant are broken by the id, in both directions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.keyset import Keyset, after_id
from app.db.models import AuditEntry
from app.errors import Unprocessable


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest_first", "newest_first"])
async def test_pages_cover_every_row_once_in_order_with_ties_broken_by_id(
    session: AsyncSession, newest_first: bool
) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    # Three rows share each instant, so a cursor on the instant alone would skip or repeat.
    rows = [
        {
            "id": uuid.uuid4(),
            "at": start + timedelta(seconds=index // 3),
            "action": "test.keyset",
            "resource_type": "test",
            "resource_id": str(index),
            "detail": {},
        }
        for index in range(23)
    ]
    await session.execute(insert(AuditEntry), rows)
    order = Keyset(AuditEntry.at, AuditEntry.id, newest_first=newest_first)
    query = select(AuditEntry).where(AuditEntry.action == "test.keyset")

    served: list[uuid.UUID] = []
    cursor: str | None = None
    for _ in range(10):
        found = list(await session.scalars(order.query(query, 5, cursor)))
        page, cursor = order.cut(found, 5)
        served.extend(row.id for row in page)
        if cursor is None:
            break
    expected = sorted(rows, key=lambda row: (row["at"], row["id"]), reverse=newest_first)
    assert served == [row["id"] for row in expected]


def test_a_cursor_the_service_did_not_issue_is_refused() -> None:
    order = Keyset(AuditEntry.at, AuditEntry.id)
    with pytest.raises(Unprocessable) as refused:
        order.query(select(AuditEntry), 5, "bm90LWEtY3Vyc29y")
    assert refused.value.code == "invalid_cursor"


async def test_a_primary_key_walk_visits_every_row_once_in_id_order(session: AsyncSession) -> None:
    """`after_id`, the batch jobs' walk (``certsvc rekey``): from the start, then from the
    last id served, each row once, in id order, until a batch comes back empty."""
    ids = sorted(uuid.uuid4() for _ in range(11))
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await session.execute(
        insert(AuditEntry),
        [
            {
                "id": entry_id,
                "at": at,
                "action": "test.walk",
                "resource_type": "test",
                "resource_id": "walk",
                "detail": {},
            }
            for entry_id in ids
        ],
    )
    query = select(AuditEntry.id).where(AuditEntry.action == "test.walk")
    served: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    for _ in range(10):
        batch = list(await session.scalars(after_id(query, AuditEntry.id, after, 4)))
        if not batch:
            break
        served.extend(batch)
        after = batch[-1]
    assert served == ids
