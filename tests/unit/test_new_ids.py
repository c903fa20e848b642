"""`new_ids`: ids as `new_id` makes them, many at once."""

from __future__ import annotations

import uuid

from app.db.base import new_id, new_ids


def test_new_ids_are_time_ordered_version_7_ids_and_all_distinct() -> None:
    before = new_id()
    ids = new_ids(50_000)
    after = new_id()
    assert len(set(ids)) == len(ids)
    assert {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}
    # The first 48 bits are the millisecond clock, as new_id's: between the two around them.
    assert all(before.int >> 80 <= i.int >> 80 <= after.int >> 80 for i in ids)
    # The other 74 bits are random: every one of them varies.
    varying = 0
    for i in ids:
        varying |= i.int ^ ids[0].int
    assert varying & ((1 << 80) - 1) == ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)


def test_no_ids_for_zero() -> None:
    assert new_ids(0) == []
