"""Rate limiting: a token bucket per API client, refilled at its role's rate, and one per
source address for failed authentication (guessing keys, or a client with a stale key).

Buckets live in each API process (they are counters, not business state): with N replicas
behind a balancer a client can reach N times its rate, and an address N times its failures.
Set the rates with that in mind, or put a shared limiter in front (the balancer or a gateway)
where that matters.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.domain.enums import Role
from app.errors import AppError


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """``rates``: requests per second per role; a client may burst to ``burst_seconds`` of it."""

    rates: Mapping[Role, float]
    burst_seconds: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[uuid.UUID, _Bucket] = field(default_factory=dict)

    def check(self, client_id: uuid.UUID, role: Role) -> None:
        """Take one token or raise RateLimited with the seconds until one is back."""
        rate = self.rates.get(role)
        if rate is None or rate <= 0:
            return
        capacity = max(1.0, rate * self.burst_seconds)
        now = self.clock()
        bucket = self._buckets.setdefault(client_id, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        wait = math.ceil((1 - bucket.tokens) / rate)
        raise RateLimited(
            f"more than {rate:g} requests per second for this client",
            headers={"Retry-After": str(max(1, wait))},
        )


class AuthFailuresLimited(AppError):
    status, code, title = 429, "auth_failures_limited", "Too many failed authentications"


@dataclass
class AuthFailureLimiter:
    """At most ``limit`` failed authentications per source address in ``window`` seconds
    (a bucket of ``limit`` refilled over the window); ``limit`` 0 turns it off. An address
    over the limit is refused before its key is looked at, valid or not: that is what stops
    guessing, and it costs an address that shares a NAT with a guesser (docs/security.md)."""

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    max_addresses: int = 100_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, address: str) -> None:
        """Raise AuthFailuresLimited while ``address`` has no failure left to spend."""
        bucket = self._buckets.get(address)  # an address that never failed: one dict miss
        if bucket is None:
            return
        tokens = self._refill(address, bucket)
        if tokens < 1:
            wait = math.ceil((1 - tokens) * self.window / self.limit)
            raise AuthFailuresLimited(
                f"more than {self.limit} failed authentications from this address in "
                f"{self.window:g} s",
                headers={"Retry-After": str(max(1, wait))},
            )

    def failed(self, address: str) -> None:
        if self.limit <= 0:
            return
        bucket = self._buckets.get(address)
        tokens = float(self.limit) if bucket is None else self._refill(address, bucket)
        if address not in self._buckets and len(self._buckets) >= self.max_addresses:
            self._buckets.clear()  # bounded memory whatever the callers send
        self._buckets[address] = _Bucket(tokens - 1, self.clock())

    def _refill(self, address: str, bucket: _Bucket) -> float:
        now = self.clock()
        tokens = bucket.tokens + (now - bucket.updated) * self.limit / self.window
        if tokens >= self.limit:
            del self._buckets[address]  # all forgiven: forget the address
            return float(self.limit)
        bucket.tokens, bucket.updated = tokens, now
        return tokens
