"""Per-client rates and failed authentications per source address, counted in moving windows
of this process's memory (the shared Redis storage: tests/api/test_shared_rate_limits.py)."""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

import pytest
from limits.errors import StorageError
from prometheus_client import CollectorRegistry

from app.domain.enums import Role
from app.ratelimit import (
    AuthFailureLimiter,
    AuthFailuresLimited,
    LimitStore,
    ProcessWindows,
    RateLimited,
    RateLimiter,
    storage_errors,
)
from app.settings import Settings


class Clock:
    """Wall-clock time for the process's windows and the limiter, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    monotonic = time


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    fake = SimpleNamespace(time=clock.time, monotonic=clock.monotonic)
    monkeypatch.setattr("app.ratelimit.time", fake)
    return clock


async def test_a_client_may_burst_then_is_refused_with_retry_after_and_recovers(
    clock: Clock,
) -> None:
    limiter = RateLimiter({Role.COUNTY: 1.0}, burst_seconds=3)
    client = uuid.uuid4()
    for _ in range(3):
        await limiter.check(client, Role.COUNTY)
    clock.now += 1
    with pytest.raises(RateLimited) as refused:
        await limiter.check(client, Role.COUNTY)
    assert refused.value.status == 429
    assert refused.value.code == "rate_limited"
    assert refused.value.headers == {"Retry-After": "2"}  # when the burst leaves the window
    clock.now += 2.01
    for _ in range(3):
        await limiter.check(client, Role.COUNTY)


async def test_a_full_window_frees_one_request_as_its_oldest_leaves(clock: Clock) -> None:
    limiter = RateLimiter({Role.COUNTY: 1.0}, burst_seconds=3)
    client = uuid.uuid4()
    for _ in range(3):
        await limiter.check(client, Role.COUNTY)
        clock.now += 1
    clock.now -= 0.5  # 2.5 s after the first
    with pytest.raises(RateLimited) as refused:
        await limiter.check(client, Role.COUNTY)
    assert refused.value.headers == {"Retry-After": "1"}
    clock.now += 0.51
    await limiter.check(client, Role.COUNTY)
    with pytest.raises(RateLimited):
        await limiter.check(client, Role.COUNTY)  # one back, not three


async def test_clients_have_their_own_windows_and_unlisted_roles_are_unlimited(
    clock: Clock,
) -> None:
    limiter = RateLimiter({Role.COUNTY: 1.0}, burst_seconds=1)
    first, second = uuid.uuid4(), uuid.uuid4()
    await limiter.check(first, Role.COUNTY)
    await limiter.check(second, Role.COUNTY)
    with pytest.raises(RateLimited):
        await limiter.check(first, Role.COUNTY)
    for _ in range(100):
        await limiter.check(first, Role.PAYMENT)


async def test_a_rate_under_one_per_window_still_holds(clock: Clock) -> None:
    limiter = RateLimiter({Role.COUNTY: 0.2}, burst_seconds=2)  # one request per 5 s
    client = uuid.uuid4()
    await limiter.check(client, Role.COUNTY)
    clock.now += 4
    with pytest.raises(RateLimited) as refused:
        await limiter.check(client, Role.COUNTY)
    assert refused.value.headers == {"Retry-After": "1"}
    clock.now += 1.01
    await limiter.check(client, Role.COUNTY)


async def test_an_address_over_its_failures_is_refused_with_retry_after_and_recovers(
    clock: Clock,
) -> None:
    failures = AuthFailureLimiter(limit=3, window=60.0)
    for _ in range(3):
        await failures.check("203.0.113.7")
        await failures.failed("203.0.113.7")
        clock.now += 10
    with pytest.raises(AuthFailuresLimited) as refused:
        await failures.check("203.0.113.7")
    assert refused.value.status == 429
    assert refused.value.code == "auth_failures_limited"
    assert refused.value.headers == {"Retry-After": "30"}  # the first failure, 30 s ago
    await failures.check("198.51.100.1")  # another address is not concerned
    clock.now += 30.01
    await failures.check("203.0.113.7")  # one attempt again, not three
    await failures.failed("203.0.113.7")
    with pytest.raises(AuthFailuresLimited):
        await failures.check("203.0.113.7")


async def test_zero_failures_per_address_turns_the_limit_off(clock: Clock) -> None:
    failures = AuthFailureLimiter(limit=0, window=60.0)
    for _ in range(1000):
        await failures.failed("203.0.113.7")
    await failures.check("203.0.113.7")


async def test_windows_of_idle_keys_are_forgotten_and_keys_stay_bounded(clock: Clock) -> None:
    windows = ProcessWindows(max_keys=100)
    failures = AuthFailureLimiter(limit=5, window=60.0, store=LimitStore(windows))
    for number in range(1000):
        await failures.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(windows._windows) <= 100
    clock.now += 61
    await failures.failed("203.0.113.7")
    assert list(windows._windows) == ["LIMITER/auth-failures/203.0.113.7/5/60/second"]


class BrokenStorage(ProcessWindows):
    """A storage whose every command fails, as a Redis that went away."""

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        raise StorageError(ConnectionError("Connection refused"))

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        raise StorageError(ConnectionError("Connection refused"))


async def test_a_storage_that_fails_lets_requests_through_counted_and_warned_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    store = LimitStore(BrokenStorage(), errors=storage_errors(registry), clock=clock.monotonic)
    limiter = RateLimiter({Role.COUNTY: 1.0}, burst_seconds=1, store=store)
    failures = AuthFailureLimiter(limit=1, window=60.0, store=store)
    client = uuid.uuid4()
    with caplog.at_level(logging.WARNING, logger="certsvc.ratelimit"):
        for _ in range(5):
            await failures.check("203.0.113.7")
            await failures.failed("203.0.113.7")
            await limiter.check(client, Role.COUNTY)
    assert registry.get_sample_value("certsvc_rate_limit_storage_errors_total") == 15
    warnings = [r for r in caplog.records if r.name == "certsvc.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith("rate-limit storage unavailable")
    assert vars(warnings[0])["error"] == "ConnectionError"
    clock.now += 60  # a minute later it says so again
    with caplog.at_level(logging.WARNING, logger="certsvc.ratelimit"):
        await limiter.check(client, Role.COUNTY)
    assert len([r for r in caplog.records if r.name == "certsvc.ratelimit"]) == 2


@pytest.mark.parametrize(
    "uri",
    ["memory://", "redis://127.0.0.1:6379/0", "rediss://:pw@cache:6380/1", "redis+unix:///r.s"],
)
def test_the_storage_setting_takes_memory_and_redis(uri: str) -> None:
    assert Settings(rate_limit_storage=uri).rate_limit_storage == uri


@pytest.mark.parametrize("uri", ["postgresql://db/certsvc", "memcached://cache:11211", "redis"])
def test_the_storage_setting_refuses_what_it_does_not_know(uri: str) -> None:
    with pytest.raises(ValueError, match="must be memory:// or redis://"):
        Settings(rate_limit_storage=uri)
