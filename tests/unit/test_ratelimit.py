"""Per-client token buckets, and failed authentications per source address."""

from __future__ import annotations

import uuid

import pytest

from app.domain.enums import Role
from app.ratelimit import AuthFailureLimiter, AuthFailuresLimited, RateLimited, RateLimiter


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


def test_an_address_over_its_failures_is_refused_with_retry_after_and_recovers() -> None:
    clock = Clock()
    failures = AuthFailureLimiter(limit=3, window=60.0, clock=clock)
    for _ in range(3):
        failures.check("203.0.113.7")
        failures.failed("203.0.113.7")
    with pytest.raises(AuthFailuresLimited) as refused:
        failures.check("203.0.113.7")
    assert refused.value.status == 429
    assert refused.value.code == "auth_failures_limited"
    assert refused.value.headers == {"Retry-After": "20"}  # one failure back every 20 s
    failures.check("198.51.100.1")  # another address is not concerned
    clock.now = 20.0
    failures.check("203.0.113.7")  # one attempt again, not three
    failures.failed("203.0.113.7")
    with pytest.raises(AuthFailuresLimited):
        failures.check("203.0.113.7")


def test_an_address_whose_failures_are_forgiven_is_forgotten() -> None:
    clock = Clock()
    failures = AuthFailureLimiter(limit=2, window=10.0, clock=clock)
    failures.failed("203.0.113.7")
    clock.now = 10.0
    failures.check("203.0.113.7")
    assert failures._buckets == {}


def test_zero_failures_per_address_turns_the_limit_off() -> None:
    failures = AuthFailureLimiter(limit=0, window=60.0, clock=Clock())
    for _ in range(1000):
        failures.failed("203.0.113.7")
    failures.check("203.0.113.7")


def test_failure_buckets_stay_bounded_whatever_the_addresses() -> None:
    failures = AuthFailureLimiter(limit=5, window=60.0, clock=Clock(), max_addresses=100)
    for number in range(1000):
        failures.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(failures._buckets) <= 100
