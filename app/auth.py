"""The authenticated caller and what its role and regions allow (API.md, "Conventions")."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from app.db.models import ApiClient
from app.domain.enums import Role
from app.domain.regions import province_of, within
from app.errors import Forbidden

# Roles whose reach is not bounded by regions (API.md: mobile certifies and reads for anyone).
_UNRESTRICTED = frozenset({Role.ADMIN, Role.PAYMENT, Role.MOBILE})


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: uuid.UUID
    name: str
    role: Role
    regions: tuple[str, ...]
    # The key is refused from this instant on (None: never), even when cached.
    expires_at: datetime | None = None

    @classmethod
    def of(cls, client: ApiClient) -> Principal:
        return cls(client.id, client.name, client.role, tuple(client.regions), client.expires_at)

    @property
    def provinces(self) -> frozenset[str]:
        return frozenset(province_of(prefix) for prefix in self.regions)

    def may_touch(self, agency_code: str) -> bool:
        return self.role in _UNRESTRICTED or within(agency_code, self.regions)

    def may_serve(self, agency_code: str) -> bool:
        """全省通办: anywhere in a province where the client has a region."""
        return self.role in _UNRESTRICTED or province_of(agency_code) in self.provinces

    def require_region(self, agency_codes: Iterable[str]) -> None:
        """Every agency code must be within the client's regions."""
        outside = sorted({code for code in agency_codes if not self.may_touch(code)})
        if outside:
            raise Forbidden(
                f"agency {outside[0]} is outside this client's regions", code="forbidden_region"
            )

    def require_prefix(self, agency_prefix: str) -> None:
        """A listing filtered by a division prefix must lie within the client's regions."""
        if self.role not in _UNRESTRICTED and not any(
            agency_prefix.startswith(region) for region in self.regions
        ):
            raise Forbidden(
                f"agency {agency_prefix} is outside this client's regions", code="forbidden_region"
            )

    def require_any_region(
        self, agency_codes: Iterable[str], *, province_wide: bool = False
    ) -> None:
        """At least one agency code must be within reach (a recipient is in reach when one of
        its benefits is); province_wide widens county reach to the whole province."""
        codes = list(agency_codes)
        check = self.may_serve if province_wide else self.may_touch
        if not any(check(code) for code in codes):
            raise Forbidden(
                "the recipient is outside this client's regions", code="forbidden_region"
            )


# How long a process may go on accepting a key after it was revoked (docs/security.md).
PRINCIPAL_TTL_SECONDS = 5.0
# In the last second of an entry's life one request looks the key up again while the others
# keep using the entry, so a busy client never has all its requests miss at once.
PRINCIPAL_REFRESH_SECONDS = 1.0


@dataclass(slots=True)
class _Entry:
    principal: Principal
    expires: float
    refreshing: bool = False


@dataclass
class PrincipalCache:
    """Authenticated callers by key digest, for a few seconds: a request whose key was seen
    recently needs no database look-up. Only successes are kept, so a new key works at once;
    a revoked key keeps working in this process for at most ``ttl`` seconds. It is a cache,
    not state: every process builds its own, and losing it costs one look-up per key."""

    ttl: float = PRINCIPAL_TTL_SECONDS
    refresh: float = PRINCIPAL_REFRESH_SECONDS
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def get(self, key_digest: str) -> Principal | None:
        """The cached caller, or None: look the key up (and `put` or `discard` it)."""
        entry = self._entries.get(key_digest)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires:
            del self._entries[key_digest]
            return None
        if not entry.refreshing and now >= entry.expires - self.refresh:
            entry.refreshing = True  # this caller looks it up; the others keep the entry
            return None
        return entry.principal

    def put(self, key_digest: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # bounded memory whatever the callers send
        self._entries[key_digest] = _Entry(principal, self.clock() + self.ttl)

    def discard(self, key_digest: str) -> None:
        """The key was found unknown or revoked: no request may use the entry any more."""
        self._entries.pop(key_digest, None)
