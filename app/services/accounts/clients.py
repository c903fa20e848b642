"""API clients: creation (key shown once), listing, revocation and authentication."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import accounts
from app.db.base import utcnow
from app.db.models import ApiClient
from app.domain.enums import Role
from app.domain.regions import REGION_PREFIX
from app.errors import Conflict, NotFound, Unprocessable
from app.services.accounts import audit
from app.services.eligibility.policies import SERVICE_TIMEZONE

KEY_PREFIX = "csk_"
# Mobile backends certify and read for anyone (API.md); county and data-exchange clients are
# bound to regions.
ROLES_NEEDING_REGIONS = frozenset({Role.COUNTY, Role.DATA_EXCHANGE})


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_expiry(
    expires_on: date | None, expires_in_days: int | None, now: datetime
) -> datetime | None:
    """When a new key stops working: at 00:00 Beijing time on ``expires_on`` (the key works
    through the day before), or ``expires_in_days`` whole days from ``now``; None: never."""
    if expires_on is not None:
        return datetime.combine(expires_on, time(), SERVICE_TIMEZONE)
    if expires_in_days is not None:
        return now + timedelta(days=expires_in_days)
    return None


async def create_client(
    session: AsyncSession,
    name: str,
    role: Role,
    regions: Sequence[str],
    expires_at: datetime | None = None,
) -> tuple[ApiClient, str]:
    """Create a client and return it with its new key, which is not stored anywhere."""
    if expires_at is not None and expires_at <= utcnow():
        raise Unprocessable("the key's expiry must be in the future")
    regions = sorted(set(regions))
    for prefix in regions:
        if not REGION_PREFIX.match(prefix):
            raise Unprocessable(f"region {prefix!r} is not a 2, 4 or 6 digit division prefix")
    if role in ROLES_NEEDING_REGIONS and not regions:
        raise Unprocessable(f"a {role.value} client needs at least one region")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        role=role,
        regions=regions,
        key_digest=key_digest(key),
        key_prefix=key[:10],
        expires_at=expires_at,
    )
    session.add(client)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a client named {name!r} exists", code="client_exists") from None
    await audit.record(
        session,
        None,
        "client.created",
        "api_client",
        client.id,
        utcnow(),
        detail={
            "name": name,
            "role": role.value,
            "regions": regions,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
        },
    )
    return client, key


async def list_clients(session: AsyncSession) -> Sequence[ApiClient]:
    return await accounts.clients_by_name(session)


async def revoke_client(session: AsyncSession, name: str) -> ApiClient:
    client = await accounts.client_named(session, name)
    if client is None:
        raise NotFound(f"no client named {name!r}")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            None,
            "client.revoked",
            "api_client",
            client.id,
            client.revoked_at,
            detail={"name": name},
        )
    return client


def expiry_text(expires_at: datetime) -> str:
    """An expiry as an operator reads it: Beijing time, to the second."""
    return expires_at.astimezone(SERVICE_TIMEZONE).isoformat(timespec="seconds")


def has_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


async def authenticate(session: AsyncSession, key: str) -> ApiClient | None:
    """The client holding ``key``, or None when the key is unknown or revoked. An expired
    key's client is returned: the caller refuses it with its own code (``has_expired``)."""
    if not key.startswith(KEY_PREFIX):
        return None
    client = await accounts.client_holding(session, key_digest(key))
    if client is None or client.revoked_at is not None:
        return None
    return client
