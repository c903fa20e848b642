"""The one keyset pagination (app/db/keyset.py) on both databases: pages follow one another
without a gap or a repeat, ties on the instant are broken by the id, in both directions; chunk
walks on one key serve every key once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.keyset import Keyset, decode_ids, encode_ids, next_chunk
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


@pytest.mark.parametrize("inclusive", [False, True], ids=["after", "from"])
async def test_chunks_walk_every_key_once_in_order(session: AsyncSession, inclusive: bool) -> None:
    """`next_chunk` after the last key seen (or from it, as a page resuming inside a
    recipient does) serves each key in order, the resumed key only once more."""
    ids = [uuid.uuid4() for _ in range(11)]
    rows = [
        {
            "id": identifier,
            "at": datetime(2026, 12, 1, tzinfo=UTC),
            "action": "test.chunks",
            "resource_type": "test",
            "resource_id": str(identifier),
            "detail": {},
        }
        for identifier in ids
    ]
    await session.execute(insert(AuditEntry), rows)
    query = select(AuditEntry.id).where(AuditEntry.action == "test.chunks")
    served: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    for _ in range(10):
        chunk = list(await session.scalars(next_chunk(query, AuditEntry.id, after, 4)))
        if not chunk:
            break
        served.extend(chunk)
        after = chunk[-1]
    assert served == sorted(ids)
    middle = served[5]
    resumed = list(
        await session.scalars(next_chunk(query, AuditEntry.id, middle, 3, inclusive=inclusive))
    )
    assert resumed == (served[5:8] if inclusive else served[6:9])


def test_id_pair_cursors_round_trip_and_forged_ones_are_refused() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    assert decode_ids(encode_ids(first, second)) == (first, second)
    for forged in ("bm90LWEtY3Vyc29y", "%%%", encode_ids(first, second)[:-4]):
        with pytest.raises(Unprocessable) as refused:
            decode_ids(forged)
        assert refused.value.code == "invalid_cursor"


def test_the_delivery_claim_locks_rows_on_postgresql_and_renders_no_lock_on_sqlite() -> None:
    """`FOR UPDATE SKIP LOCKED` is asked for on every database: SQLite, whose writers are
    serialised, compiles it to nothing."""
    query = select(AuditEntry.id).limit(3).with_for_update(skip_locked=True)
    on_postgresql = query.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    assert "FOR UPDATE" not in str(query.compile(dialect=sqlite.dialect()))
    assert "FOR UPDATE SKIP LOCKED" in str(on_postgresql)
