"""Request-scoped dependencies: the session (one transaction per request), the caller, and the
long-lived objects the lifespan built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db.base import utcnow
from app.domain.policy import PolicyBook
from app.errors import Unauthorized
from app.protection import IdProtector
from app.services.clients import authenticate
from app.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once when the endpoint returns, before the
    response is sent; rolled back when anything raises."""
    async with request.state.sessionmaker() as session, session.begin():
        yield session


# scope="function": the commit happens before the response leaves, so a failed commit is an
# error response rather than a success the client saw for a write that never landed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="API key issued by `certsvc clients create`")


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("an API key is required: Authorization: Bearer <key>", headers=challenge)
    client = await authenticate(session, credentials.credentials)
    if client is None:
        raise Unauthorized("the API key is unknown or revoked", headers=challenge)
    request.app.state.rate_limiter.check(client.id, client.role)
    return Principal.of(client)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# Async on purpose: a plain def dependency would be run in a thread pool on every request.
async def get_protector(request: Request) -> IdProtector:
    protector: IdProtector = request.state.protector
    return protector


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
