"""Per-client token buckets."""

from __future__ import annotations

import uuid

import pytest

from app.domain.enums import Role
from app.ratelimit import RateLimited, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_may_burst_then_is_refused_with_retry_after_and_recovers() -> None:
    clock = Clock()
    limiter = RateLimiter({Role.COUNTY: 1.0}, burst_seconds=3, clock=clock)
    client = uuid.uuid4()
    for _ in range(3):
        limiter.check(client, Role.COUNTY)
    with pytest.raises(RateLimited) as refused:
        limiter.check(client, Role.COUNTY)
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "1"}
    clock.now = 1.0
    limiter.check(client, Role.COUNTY)


def test_clients_have_their_own_buckets_and_unlisted_roles_are_unlimited() -> None:
    limiter = RateLimiter({Role.COUNTY: 1.0}, burst_seconds=1, clock=Clock())
    first, second = uuid.uuid4(), uuid.uuid4()
    limiter.check(first, Role.COUNTY)
    limiter.check(second, Role.COUNTY)
    with pytest.raises(RateLimited):
        limiter.check(first, Role.COUNTY)
    for _ in range(100):
        limiter.check(first, Role.PAYMENT)
