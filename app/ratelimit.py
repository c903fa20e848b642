"""Rate limiting: a per-client rate by role, and failed authentications per source address
(guessing keys, or a client with a stale key).

Both count in moving windows (`limits`' strategy) in one storage, named by
``CERTSVC_RATE_LIMIT_STORAGE``: ``memory://``, each API process its own (`ProcessWindows`; N
replicas let a client reach N times its rate), or ``redis://host:port/db`` (`limits`' Redis
storage), which every replica shares, so a client gets its rate and an address its failures
whichever replicas serve them. A storage that
does not answer lets the request through (fail open): the limiter protects the service, and it
must never be what takes the payment API down. Each such request is counted
(``certsvc_rate_limit_storage_errors_total``) and a warning is logged, at most once a minute.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from coredis.retry import NoRetryPolicy
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MovingWindowSupport, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from prometheus_client import CollectorRegistry, Counter

from app.domain.enums import Role
from app.errors import AppError

log = logging.getLogger("certsvc.ratelimit")

# Keys in a shared Redis start with this, so the service's counts are easy to tell apart.
KEY_PREFIX = "certsvc"
WARNING_INTERVAL_SECONDS = 60.0

T = TypeVar("T")


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


class AuthFailuresLimited(AppError):
    status, code, title = 429, "auth_failures_limited", "Too many failed authentications"


def open_storage(uri: str, timeout_seconds: float) -> Storage:
    """The `limits` storage for ``CERTSVC_RATE_LIMIT_STORAGE`` (a scheme of the settings'
    RATE_LIMIT_STORAGE_SCHEMES). Nothing connects here: a Redis client connects on its first
    command, each command and connection bounded by ``timeout_seconds``."""
    if uri.startswith("memory://"):
        return ProcessWindows()
    options: dict[str, Any] = {
        "key_prefix": KEY_PREFIX,
        "stream_timeout": timeout_seconds,
        "connect_timeout": timeout_seconds,
        # A check that fails lets its request through; retrying it only makes that late.
        "retry_policy": NoRetryPolicy(),
    }
    # "async+": the asyncio variant of the `limits` storage.
    storage = storage_from_string(f"async+{uri}", wrap_exceptions=True, **options)
    assert isinstance(storage, Storage)
    return storage


class ProcessWindows(Storage, MovingWindowSupport):
    """This process's moving windows (``memory://``), for `limits`' moving-window strategy.

    Not `limits`' own MemoryStorage: that one expires entries in a background task it starts
    again after nearly every call, one thread hop per key, which cost 70-80 µs of CPU per
    request here, against 5 µs for the counting itself. Here a key's entries are dropped when
    the key is next touched, idle keys at most once a second, and past ``max_keys`` keys all
    are forgotten at once (bounded memory whatever addresses callers send)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        super().__init__(None)
        self.max_keys = max_keys
        self._windows: dict[str, deque[float]] = {}  # newest first
        self._idle_from: dict[str, float] = {}
        self._next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        self._forget_idle(now)
        window = self._live(key, now, expiry)
        if len(window) + amount > limit:
            return False
        if key not in self._windows and len(self._windows) >= self.max_keys:
            self._windows.clear()
            self._idle_from.clear()
        window.extendleft([now] * amount)
        self._windows[key] = window
        self._idle_from[key] = now + expiry
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        window = self._live(key, now, expiry)
        return (window[-1], len(window)) if window else (now, 0)

    def _live(self, key: str, now: float, expiry: int) -> deque[float]:
        window = self._windows.get(key, deque())
        while window and window[-1] <= now - expiry:
            window.pop()
        return window

    def _forget_idle(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for key in [key for key, idle in self._idle_from.items() if idle <= now]:
            del self._windows[key], self._idle_from[key]

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)
        self._idle_from.pop(key, None)

    async def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        self._idle_from.clear()
        return count

    async def check(self) -> bool:
        return True

    # The fixed-window counters of the other strategies: app/ratelimit uses moving windows only.
    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("ProcessWindows keeps moving windows only")

    async def get(self, key: str) -> int:
        raise NotImplementedError("ProcessWindows keeps moving windows only")

    async def get_expiry(self, key: str) -> float:
        raise NotImplementedError("ProcessWindows keeps moving windows only")


@dataclass
class LimitStore:
    """Moving windows in one storage, and what happens when the storage fails: the caller
    is let through (fail open), the failure counted and, once a minute, logged."""

    storage: Storage
    errors: Counter | None = None
    clock: Callable[[], float] = time.monotonic
    _warned_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._windows = MovingWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one in the window; False when it was full (nothing counted then)."""
        return await self._or_open(self._windows.hit(item, *identifiers), True)

    async def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Whether one more would fit, counting nothing."""
        return await self._or_open(self._windows.test(item, *identifiers), True)

    async def retry_after(self, item: RateLimitItem, *identifiers: str) -> str:
        """Whole seconds, at least 1, until the oldest count in the full window leaves it."""
        stats = await self._or_open(self._windows.get_window_stats(item, *identifiers), None)
        wait = 1 if stats is None else math.ceil(stats.reset_time - time.time())
        return str(max(1, wait))

    async def _or_open(self, call: Awaitable[T], when_unknown: T) -> T:
        try:
            return await call
        except (StorageError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return when_unknown

    def _failed(self, exc: Exception) -> None:
        if self.errors is not None:
            self.errors.inc()
        now = self.clock()
        if self._warned_at is None or now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            log.warning(
                "rate-limit storage unavailable; requests are let through unlimited",
                extra={"error": type(cause).__name__},
            )


def memory_store() -> LimitStore:
    """This process's own counts (the default, and unit tests)."""
    return LimitStore(open_storage("memory://", 1.0))


@dataclass
class RateLimiter:
    """``rates``: requests per second per role (missing or 0: unlimited). A client may spend
    ``burst_seconds`` of its rate at once: at most rate × window requests in any moving window
    of ``burst_seconds`` (longer for a rate under one per window, so that one request fits)."""

    rates: Mapping[Role, float]
    burst_seconds: int = 2
    store: LimitStore = field(default_factory=memory_store)

    async def check(self, client_id: uuid.UUID, role: Role) -> None:
        """Count the request, or raise RateLimited with the seconds until one fits again."""
        rate = self.rates.get(role)
        if rate is None or rate <= 0:
            return
        window = max(self.burst_seconds, math.ceil(1 / rate))
        item = RateLimitItemPerSecond(max(1, math.floor(rate * window)), window)
        client = client_id.hex
        if await self.store.hit(item, "client", client):
            return
        raise RateLimited(
            f"more than {rate:g} requests per second for this client",
            headers={"Retry-After": await self.store.retry_after(item, "client", client)},
        )


@dataclass
class AuthFailureLimiter:
    """At most ``limit`` failed authentications per source address in any moving ``window``
    of seconds; ``limit`` 0 turns it off. An address over the limit is refused before its key
    is looked at, valid or not: that is what stops guessing, and it costs an address that
    shares a NAT with a guesser (docs/security.md)."""

    limit: int
    window: float
    store: LimitStore = field(default_factory=memory_store)

    def __post_init__(self) -> None:
        self._item = RateLimitItemPerSecond(max(1, self.limit), max(1, math.ceil(self.window)))

    async def check(self, address: str) -> None:
        """Raise AuthFailuresLimited while ``address`` has no failure left to spend."""
        if self.limit <= 0 or await self.store.test(self._item, "auth-failures", address):
            return
        raise AuthFailuresLimited(
            f"more than {self.limit} failed authentications from this address in {self.window:g} s",
            headers={
                "Retry-After": await self.store.retry_after(self._item, "auth-failures", address)
            },
        )

    async def failed(self, address: str) -> None:
        if self.limit > 0:
            await self.store.hit(self._item, "auth-failures", address)


def storage_errors(registry: CollectorRegistry) -> Counter:
    return Counter(
        "certsvc_rate_limit_storage_errors",
        "Rate-limit checks the storage could not answer; each let the request through.",
        registry=registry,
    )
