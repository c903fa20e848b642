"""The per-process cache of authenticated callers (docs/security.md, authentication)."""

from __future__ import annotations

import uuid

from app.auth import Principal, PrincipalCache
from app.domain.enums import Role


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _principal() -> Principal:
    return Principal(uuid.uuid4(), "county-1404", Role.COUNTY, ("1404",))


def test_an_entry_serves_until_its_last_second_then_one_caller_refreshes_it() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl=5, refresh=1, clock=clock)
    principal = _principal()
    assert cache.get("k") is None  # never seen: look it up
    cache.put("k", principal)
    clock.now += 3.9
    assert cache.get("k") is principal
    clock.now += 0.2  # the last second: exactly one caller is sent to the database
    assert cache.get("k") is None
    assert cache.get("k") is principal
    assert cache.get("k") is principal
    refreshed = _principal()
    cache.put("k", refreshed)  # what that caller found: a fresh lifetime
    clock.now += 3.5
    assert cache.get("k") is refreshed


def test_an_entry_never_outlives_its_ttl_and_a_discarded_one_is_gone_at_once() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl=5, refresh=1, clock=clock)
    cache.put("k", _principal())
    assert cache.get("k") is not None
    clock.now += 4.5
    assert cache.get("k") is None  # the refreshing caller, which then fails with an error
    assert cache.get("k") is not None
    clock.now += 0.5
    assert cache.get("k") is None  # expired: every caller looks it up
    assert cache.get("k") is None
    cache.put("k", _principal())
    cache.discard("k")  # found revoked
    assert cache.get("k") is None


def test_memory_is_bounded_whatever_keys_callers_send() -> None:
    cache = PrincipalCache(max_entries=3, clock=Clock())
    for key in "abcde":
        cache.put(key, _principal())
    assert sum(cache.get(key) is not None for key in "abcde") <= 3
    assert cache.get("e") is not None
