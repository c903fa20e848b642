"""Request-scoped dependencies: the session (one transaction per request), the caller, and the
long-lived objects the lifespan built."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import authorize
from app.auth import Principal, PrincipalCache
from app.db.base import utcnow
from app.db.replica import Replica
from app.domain.policy import PolicyBook
from app.errors import Unauthorized
from app.protection import IdProtector
from app.ratelimit import AuthFailureLimiter
from app.services.accounts.clients import authenticate, key_digest
from app.services.notices.egress import EgressPolicy
from app.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: begun by its first statement, committed once when the
    endpoint returns, before the response is sent; rolled back when anything raises.

    A request that runs no statement (a cached caller reading through the read pool) begins,
    commits and closes nothing: on the hot read path that saves about a tenth of a
    millisecond. (No ``async with`` either: AsyncSession's exit shields its close in a new
    task, and FastAPI already shields this exit from cancellation.)"""
    session: AsyncSession = request.state.sessionmaker()
    began = False
    try:
        yield session
        began = session.in_transaction()
        if began:
            await session.commit()
        await _mark_the_write(request)
    finally:
        # Closing rolls back what is left and returns the connection to the pool.
        if began or session.in_transaction():
            await session.close()


async def _mark_the_write(request: Request) -> None:
    """With a read replica, a write request's client reads from the primary until the replica
    has replayed it (app/db/replica.py); marked after the commit, before the response."""
    replica: Replica | None = getattr(request.state, "replica", None)
    writer: uuid.UUID | None = getattr(request.state, "writer", None)
    if replica is None or writer is None or request.method in _SAFE_METHODS:
        return
    route = request.scope.get("route")
    if not getattr(getattr(route, "endpoint", None), _READS_ONLY, False):
        await replica.record_write(writer)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READS_ONLY = "certsvc_reads_only"
E = TypeVar("E", bound=Callable[..., Any])


def reads_only(endpoint: E) -> E:
    """A POST route that only reads (the batch check): it leaves its caller's read-your-writes
    mark alone, so that a payment system's checks one after another may read the replica."""
    setattr(endpoint, _READS_ONLY, True)
    return endpoint


# scope="function": the commit happens before the response leaves, so a failed commit is an
# error response rather than a success the client saw for a write that never landed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="API key issued by `certsvc clients create`")


async def get_sessions(request: Request) -> Callable[[], AsyncSession]:
    """Sessions on demand, for the hot reads that usually need none (tests override this to
    join their transaction, as they override get_session)."""
    sessions: Callable[[], AsyncSession] = request.state.sessionmaker
    return sessions


SessionsDep = Annotated[Callable[[], AsyncSession], Depends(get_sessions)]


async def _principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    session: Callable[[], Awaitable[AsyncSession]],
) -> Principal:
    # The address the server saw, or the proxy's X-Forwarded-For when the proxy is trusted
    # (`certsvc serve --forwarded-allow-ips`).
    address = request.client.host if request.client else ""
    failures: AuthFailureLimiter = request.app.state.auth_failures
    await failures.check(address)
    if credentials is None or credentials.scheme.lower() != "bearer":
        await failures.failed(address)
        raise Unauthorized(
            "an API key is required: Authorization: Bearer <key>", headers=_CHALLENGE
        )
    # A key seen in the last few seconds skips the database (PrincipalCache, docs/security.md).
    cache: PrincipalCache = request.app.state.principal_cache
    digest = key_digest(credentials.credentials)
    principal = cache.get(digest)
    if principal is None:
        client = await authenticate(await session(), credentials.credentials)
        if client is None:
            cache.discard(digest)
            await failures.failed(address)
            raise Unauthorized("the API key is unknown or revoked", headers=_CHALLENGE)
        principal = Principal.of(client)
        cache.put(digest, principal)
    # Checked on every request, cached or not: an expired key stops at its instant.
    if principal.expires_at is not None and principal.expires_at <= utcnow():
        cache.discard(digest)
        await failures.failed(address)
        raise Unauthorized(
            f"the API key expired at {principal.expires_at.isoformat()}",
            code="api_key_expired",
            headers=_CHALLENGE,
        )
    await request.app.state.rate_limiter.check(principal.client_id, principal.role)
    # The route's operation against the one table of role -> operations (app/access.py).
    authorize(principal.role, request.scope.get("route"))
    return principal


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    async def the_request_session() -> AsyncSession:
        return session

    principal = await _principal(request, credentials, the_request_session)
    # Whose write this request is, if it writes (`_mark_the_write`).
    request.state.writer = principal.client_id
    return principal


@dataclass(frozen=True, slots=True)
class ReadingCall:
    """The caller of a hot read, and where it may take sessions from (`get_sessions`)."""

    principal: Principal
    sessions: Callable[[], AsyncSession]


async def get_reading_call(request: Request, sessions: SessionsDep) -> ReadingCall:
    """The caller, for endpoints that read without the request session: a cache miss checks
    the key in a session of its own, closed at once.

    One dependency where there were three (the caller, the bearer scheme, the sessions): FastAPI
    spends some 15 µs resolving each, a tenth of point eligibility's budget. The header is read
    by calling the bearer scheme directly, so a route using this declares the scheme in its
    OpenAPI operation itself (``openapi_extra=BEARER_SECURITY``)."""
    opened: list[AsyncSession] = []

    async def a_short_session() -> AsyncSession:
        opened.append(sessions())
        return opened[0]

    try:
        principal = await _principal(request, await _bearer(request), a_short_session)
    finally:
        for session in opened:
            await session.close()
    return ReadingCall(principal, sessions)


# The security requirement a `get_reading_call` route declares itself, as `_bearer` would.
BEARER_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}

PrincipalDep = Annotated[Principal, Depends(get_principal)]
ReadingCallDep = Annotated[ReadingCall, Depends(get_reading_call)]


# Async on purpose: a plain def dependency would be run in a thread pool on every request.
async def get_protector(request: Request) -> IdProtector:
    protector: IdProtector = request.state.protector
    return protector


async def get_egress(request: Request) -> EgressPolicy:
    egress: EgressPolicy = request.app.state.egress
    return egress


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_policies(request: Request) -> PolicyBook:
    policies: PolicyBook = request.state.policies
    return policies


async def get_now() -> datetime:
    """The request's notion of now; tests override it to replay the notices' dates."""
    return utcnow()


ProtectorDep = Annotated[IdProtector, Depends(get_protector)]
NowDep = Annotated[datetime, Depends(get_now)]
PoliciesDep = Annotated[PolicyBook, Depends(get_policies)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EgressDep = Annotated[EgressPolicy, Depends(get_egress)]
