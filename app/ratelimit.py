"""Per-client rate limiting: a token bucket per API client, refilled at its role's rate.

Buckets live in each API process (they are counters, not business state): with N replicas
behind a balancer a client can reach N times its rate. Set the per-role rates with that in
mind, or put a shared limiter in front (the balancer or a gateway) where that matters.
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
