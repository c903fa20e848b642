"""The webhook delivery worker (`certsvc deliver`): posts outbox events to their webhooks,
signed, retried with exponential backoff and jitter, parked after the retry budget.

Each pass has three steps, so that no transaction stays open while a receiver is slow:
1. claim: in one short transaction, pick due deliveries (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so that replicas never pick the same rows: app/db/notices/deliveries.py) and
   push their ``next_attempt_at`` forward by a lease, which hides them from every other
   replica while the POST is in flight;
2. post: outside any transaction, concurrently;
3. record: in a second short transaction, delivered, or a failure with its next attempt.

A worker that dies between 2 and 3 loses nothing: the lease runs out and the delivery is
posted again. Delivery is therefore at least once; the event id lets receivers drop repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.models import ApiClient, OutboxEvent, Webhook
from app.db.notices import deliveries as stored
from app.domain.regions import within
from app.protection import IdProtector
from app.services.notices.egress import DEFAULT_POLICY as DEFAULT_EGRESS
from app.services.notices.egress import EgressPolicy, EgressRefused
from app.settings import Settings
from app.signals import stop_on_signals

logger = logging.getLogger("certsvc.webhooks")

EVENT_ID_HEADER = "X-Certsvc-Event-Id"
SIGNATURE_HEADER = "X-Certsvc-Signature"
TIMESTAMP_HEADER = "X-Certsvc-Timestamp"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "certsvc-webhooks/1"
# Per phase (connect, write, read); the whole attempt is also bounded by the policy.
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a delivery is tried. With the defaults the waits after each failure are
    about 1, 2, 4, 8, 16, 32, 64 and 120 (the cap), 120 minutes: a receiver down for up to
    about six hours misses nothing; past that the delivery is parked for an admin."""

    max_attempts: int = 10
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=2)
    # Hides a claimed delivery from other replicas while it is posted: must exceed the
    # longest attempt, or a slow POST could be claimed and sent a second time.
    lease: timedelta = timedelta(seconds=60)
    attempt_timeout: timedelta = timedelta(seconds=30)

    def backoff(self, failed_before: int, jitter: float) -> timedelta:
        """The wait after a failure, given how many attempts had failed before it. The jitter
        (a factor in 0.5..1.5) spreads the retries of many deliveries that failed together
        (one receiver down) instead of sending them back in one burst."""
        exponential = self.base * (1 << min(failed_before, 30))
        return min(self.cap, exponential) * jitter


DEFAULT_POLICY = RetryPolicy()

# Not for secrets: the jitter only needs to differ between deliveries and replicas.
_random = random.Random()  # noqa: S311


def _jitter() -> float:
    return _random.uniform(0.5, 1.5)


def sign(secret: str, body: bytes) -> str:
    """The X-Certsvc-Signature value for a body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """For receivers: whether ``header`` (the X-Certsvc-Signature value) signs the raw body
    with ``secret``. Constant-time, so a forger learns nothing from response timings."""
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: uuid.UUID
    # The claim's token: the failure is recorded only if the row still carries it.
    lease_until: datetime
    attempts: int
    url: str
    secret_ciphertext: bytes
    event_id: uuid.UUID
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    protector: IdProtector,
    http: httpx.AsyncClient,
    now: Callable[[], datetime] | None = None,
    batch: int = 50,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    egress: EgressPolicy = DEFAULT_EGRESS,
    jitter: Callable[[], float] = _jitter,
) -> int:
    """One pass: claim up to ``batch`` due deliveries, post them, record the outcomes.
    Returns how many were posted (0: nothing to post now)."""
    clock = now or utcnow
    claims = await _claim(sessions, clock(), batch, policy)
    if not claims:
        return 0
    outcomes = await asyncio.gather(
        *(_post(http, protector, claim, clock(), policy, egress) for claim in claims)
    )
    await _record(sessions, list(zip(claims, outcomes, strict=True)), clock(), policy, jitter)
    return len(claims)


async def _claim(
    sessions: async_sessionmaker[AsyncSession], at: datetime, batch: int, policy: RetryPolicy
) -> list[_Claim]:
    async with sessions() as session, session.begin():
        # Rows another replica is claiming are skipped, not waited for (app/db/notices).
        rows = await stored.claim_due(session, at, batch)
        if not rows:
            return []
        lease_until = at + policy.lease
        claims: list[_Claim] = []
        dropped: dict[uuid.UUID, str] = {}
        for delivery, event, hook, client in rows:
            # Things that changed since the delivery was written: it must not be sent to a
            # receiver that unsubscribed, or to a client that may no longer see the recipient.
            reason = _cancellation(hook, client, event.agency_code)
            if reason is not None:
                dropped[delivery.id] = reason
                continue
            claims.append(
                _Claim(
                    delivery_id=delivery.id,
                    lease_until=lease_until,
                    attempts=delivery.attempts,
                    url=hook.url,
                    secret_ciphertext=hook.secret_ciphertext,
                    event_id=event.id,
                    event_type=event.event_type,
                    body=event_body(event),
                )
            )
        for delivery_id, reason in dropped.items():
            await stored.cancel(session, delivery_id, reason)
        if claims:
            await stored.lease(session, [claim.delivery_id for claim in claims], lease_until)
    return claims


def _cancellation(hook: Webhook, client: ApiClient, agency_code: str) -> str | None:
    if hook.deleted_at is not None:
        return "cancelled: the webhook was deleted"
    if client.revoked_at is not None:
        return "cancelled: the subscribing client was revoked"
    # A county webhook keeps the regions it was created with; the client's may have shrunk.
    if hook.regions and not within(agency_code, client.regions):
        return "cancelled: outside the subscribing client's regions"
    return None


def event_body(event: OutboxEvent) -> bytes:
    """The JSON posted for an event. Built from the event alone, so every attempt (and every
    webhook) gets the same bytes and the same event id."""
    document = {
        "event_id": str(event.id),
        "type": event.event_type,
        "created_at": event.created_at.isoformat(),
        "recipient_id": str(event.recipient_id),
        "benefit_id": None if event.benefit_id is None else str(event.benefit_id),
        "agency_code": event.agency_code,
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


async def _post(
    http: httpx.AsyncClient,
    protector: IdProtector,
    claim: _Claim,
    at: datetime,
    policy: RetryPolicy,
    egress: EgressPolicy,
) -> _Outcome:
    """One attempt. Every failure becomes an outcome: one bad webhook (a secret that no
    longer decrypts, a URL httpx refuses) must not stop the deliveries of the others."""
    try:
        secret = protector.decrypt(claim.secret_ciphertext)
    except ValueError:  # InvalidTag is a ValueError too: the key changed since subscription
        return _Outcome(ok=False, error="the signing secret cannot be decrypted")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: str(claim.event_id),
        "X-Certsvc-Event-Type": claim.event_type,
        TIMESTAMP_HEADER: str(int(at.timestamp())),
        SIGNATURE_HEADER: sign(secret, claim.body),
    }
    try:
        async with asyncio.timeout(policy.attempt_timeout.total_seconds()):
            # Streamed and never read: the receiver's answer is its status code, and a huge
            # response body must not be loaded into the worker.
            request = http.build_request("POST", claim.url, content=claim.body, headers=headers)
            response = await http.send(await egress.pin(request), stream=True)
            status_code = response.status_code
            await response.aclose()
    except EgressRefused as exc:
        return _Outcome(ok=False, error=str(exc))
    except (TimeoutError, httpx.TimeoutException) as exc:
        return _Outcome(ok=False, error=f"timeout ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return _Outcome(ok=False, error=f"request failed ({type(exc).__name__})")
    except Exception as exc:
        logger.warning(
            "webhook post failed unexpectedly",
            exc_info=exc,
            extra={"delivery_id": str(claim.delivery_id)},
        )
        return _Outcome(ok=False, error=f"request failed ({type(exc).__name__})")
    if 200 <= status_code < 300:
        return _Outcome(ok=True, status_code=status_code)
    # Redirects are not followed (a receiver is configured with its final URL), so 3xx fails.
    return _Outcome(ok=False, status_code=status_code, error=f"HTTP {status_code}")


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    results: Sequence[tuple[_Claim, _Outcome]],
    at: datetime,
    policy: RetryPolicy,
    jitter: Callable[[], float],
) -> None:
    async with sessions() as session, session.begin():
        # In id order, as every writer of several deliveries should, to avoid lock cycles.
        for claim, outcome in sorted(results, key=lambda result: result[0].delivery_id):
            if outcome.ok:
                await stored.record_delivered(session, claim.delivery_id, at, outcome.status_code)
                continue
            attempts = claim.attempts + 1
            parked = attempts >= policy.max_attempts
            next_attempt_at = at if parked else at + policy.backoff(claim.attempts, jitter())
            await stored.record_failure(
                session,
                claim.delivery_id,
                claim.lease_until,
                parked=parked,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                error=(outcome.error or "failed")[:500],
                status_code=outcome.status_code,
            )
            logger.info(
                "webhook delivery parked" if parked else "webhook delivery failed",
                extra={
                    "delivery_id": str(claim.delivery_id),
                    "attempts": attempts,
                    "error": outcome.error,
                },
            )


async def run_worker(
    sessions: async_sessionmaker[AsyncSession],
    protector: IdProtector,
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    poll_interval: float = 1.0,
    batch: int = 50,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> None:
    """`certsvc deliver`: deliver until ``stop`` is set (by default, until SIGTERM or SIGINT,
    after the pass in flight). Safe to run as several replicas against one PostgreSQL. The
    caller's runtime (`app.runtime.Runtime`) owns ``sessions``' engine."""
    stop, restore = (stop, None) if stop is not None else stop_on_signals()
    egress = EgressPolicy.from_settings(settings)
    timeout = httpx.Timeout(HTTP_TIMEOUT_SECONDS)
    logger.info("webhook delivery worker started")
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            while not stop.is_set():
                pause = poll_interval
                try:
                    posted = await deliver_due(
                        sessions, protector, http, batch=batch, policy=policy, egress=egress
                    )
                except (OperationalError, InterfaceError, OSError, TimeoutError) as exc:
                    # The database is down or restarting: nothing is lost (the rows wait),
                    # so wait and try again rather than exit.
                    logger.warning("webhook worker: database unavailable: %s", type(exc).__name__)
                    posted, pause = 0, max(poll_interval, 5.0)
                if posted < batch:  # a full batch means more may be due: go on at once
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)
    finally:
        if restore is not None:
            restore()
        logger.info("webhook delivery worker stopped")
