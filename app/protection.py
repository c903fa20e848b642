"""Protection of the national ID number (sensitive personal information under PIPL), and the
key ring that also seals names and phone numbers (app/services/recipients/personal_data.py).

The database holds two things per number, never the number itself:
- a keyed HMAC-SHA256, the unique lookup key (equal numbers give equal digests, and without
  the key nobody can test guesses against them);
- an AES-256-GCM ciphertext, for the few cases that need the number back.

Both keys rotate without downtime (docs/security.md, "Key rotation"). Each is a keyring: the
current key writes, previous keys are still read. A look-up computes the digest under every
HMAC key (app/services/recipients/id_lookup.py); a ciphertext names the key that sealed it,
in one of two formats told apart by the first byte:
- 1: ``0x01 | nonce | sealed``, written by a key configured without an id (every ciphertext
  before rotation existed); read by trying each encryption key, which GCM's tag makes safe;
- 2: ``0x02 | id length | key id | nonce | sealed``, the key id bound as associated data.
A caller may bind a ``context`` too (associated data after the header): a name or phone is
sealed for its column and row, so a ciphertext copied into another column or row (the ID
number's into a name, one person's phone into another's row) does not open there.
``certsvc rekey`` (app/services/recipients/rekey.py) rewrites what the previous keys wrote,
after which they can be removed from configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from app.settings import (
    Environment,
    Settings,
    SettingsError,
    decode_key,
    decode_previous_keys,
    new_key_text,
)

_UNNAMED_FORMAT = 1
_NAMED_FORMAT = 2
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class IdKey:
    """One key of a keyring. ``key_id`` is None only for a key configured without an id: it
    writes format-1 ciphertexts, exactly as the service did before key rotation existed."""

    key_id: str | None
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class IdProtector:
    """The two keyrings, current key first, then the previous keys still read."""

    hmac_keys: tuple[IdKey, ...]
    encryption_keys: tuple[IdKey, ...]
    _ciphers: dict[str | None, AESGCM] = field(init=False, repr=False, compare=False)
    _unnamed_order: tuple[AESGCM, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.hmac_keys or not self.encryption_keys:
            raise ValueError("each keyring needs a current key")
        ciphers = {key.key_id: AESGCM(key.secret) for key in self.encryption_keys}
        object.__setattr__(self, "_ciphers", ciphers)
        # Format 1 names no key. A current key with an id never writes it, so it is most
        # likely the previous keys' (the original one's): try those first.
        ordered = [*list(ciphers.values())[1:], ciphers[self.encryption_keys[0].key_id]]
        if self.encryption_keys[0].key_id is None:
            ordered.reverse()
        object.__setattr__(self, "_unnamed_order", tuple(ordered))

    @property
    def has_previous_hmac_keys(self) -> bool:
        """True while an HMAC rotation is configured: stored digests may be under older keys."""
        return len(self.hmac_keys) > 1

    def digest(self, id_number: str) -> bytes:
        """The digest under the current HMAC key: what a new row stores."""
        return _hmac(self.hmac_keys[0].secret, id_number)

    def digests(self, id_number: str) -> tuple[bytes, ...]:
        """The digest under every HMAC key, current first: what a look-up searches for."""
        return tuple(_hmac(key.secret, id_number) for key in self.hmac_keys)

    def request_digest(self, body: BaseModel) -> RequestDigest:
        """SHA-256 of a request's canonical JSON, what an idempotent replay must match. An
        ``id_number`` field enters only as its keyed digest, so the stored value cannot be used
        to test guesses of the number. Compare a stored digest with ``matches``."""
        payload = body.model_dump(mode="json")
        previous = self.hmac_keys[1:] if payload.get("id_number") else ()
        return RequestDigest(
            _request_digest(payload, self.hmac_keys[0].secret),
            payload,
            tuple(key.secret for key in previous),
        )

    def encrypt(self, text: str, context: bytes = b"") -> bytes:
        """Seal with the current encryption key, in the format that names it; ``context`` is
        authenticated, not stored: only ``decrypt`` with the same context opens it. (Empty, it
        leaves the format exactly as it was before contexts existed.)"""
        key_id = self.encryption_keys[0].key_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        if key_id is None:
            sealed = self._ciphers[None].encrypt(nonce, text.encode(), context or None)
            return bytes([_UNNAMED_FORMAT]) + nonce + sealed
        header = bytes([_NAMED_FORMAT, len(key_id)]) + key_id.encode()
        return (
            header + nonce + self._ciphers[key_id].encrypt(nonce, text.encode(), header + context)
        )

    def decrypt(self, blob: bytes, context: bytes = b"") -> str:
        """Open a ciphertext with the key it names, or else with any configured key: during a
        rolling change of configuration a reader may hold the right key under another id, or
        under none. ValueError when no key opens it (an unknown format, a key removed from
        configuration, tampering: the key id and the context are authenticated too)."""
        associated: bytes | None
        if blob[:1] == bytes([_UNNAMED_FORMAT]):
            associated, body, candidates = context or None, blob[1:], self._unnamed_order
            sealer = "the ID ciphertext"
        elif blob[:1] == bytes([_NAMED_FORMAT]) and len(blob) >= 2:
            associated, body = blob[: 2 + blob[1]] + context, blob[2 + blob[1] :]
            key_id = blob[2 : 2 + blob[1]].decode("ascii", errors="replace")
            named = self._ciphers.get(key_id)
            others = tuple(c for c in self._ciphers.values() if c is not named)
            candidates = (named, *others) if named is not None else others
            sealer = f"the ID ciphertext of key {key_id!r}"
        else:
            raise ValueError("unknown ID ciphertext format")
        nonce, sealed = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
        for candidate in candidates:
            try:
                return candidate.decrypt(nonce, sealed, associated).decode()
            except InvalidTag:
                continue
        raise ValueError(f"{sealer} opens with none of the configured keys")

    def sealed_with_current_key(self, blob: bytes) -> bool:
        """Whether ``blob`` is in the current key's format and names it; a format-1 blob counts
        only while the current key has no id (then no other key is configured to write it)."""
        key_id = self.encryption_keys[0].key_id
        if key_id is None:
            return blob[:1] == bytes([_UNNAMED_FORMAT])
        header = bytes([_NAMED_FORMAT, len(key_id)]) + key_id.encode()
        return blob.startswith(header)


class RequestDigest(str):
    """A request digest under the current HMAC key: a plain hex string, what a new record
    stores. ``matches`` also recognizes the same request's digest under a previous key, so that
    a replay of a request recorded before a rotation is still a replay."""

    _payload: dict[str, Any] | None
    _previous_keys: tuple[bytes, ...]

    def __new__(
        cls,
        value: str,
        payload: dict[str, Any] | None = None,
        previous_keys: tuple[bytes, ...] = (),
    ) -> RequestDigest:
        digest = super().__new__(cls, value)
        digest._payload = payload
        digest._previous_keys = previous_keys
        return digest

    def matches(self, stored: str) -> bool:
        """Whether ``stored`` is this request's digest under the current or a previous key."""
        if stored == self:
            return True
        payload = self._payload
        return payload is not None and any(
            stored == _request_digest(payload, key) for key in self._previous_keys
        )


def _hmac(secret: bytes, id_number: str) -> bytes:
    return hmac.new(secret, id_number.encode(), hashlib.sha256).digest()


def _request_digest(payload: dict[str, Any], hmac_secret: bytes) -> str:
    if payload.get("id_number"):
        payload = {**payload, "id_number": _hmac(hmac_secret, payload["id_number"]).hex()}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_id_protector(settings: Settings) -> IdProtector:
    """Keys come from settings; in development a missing current key is generated once into
    the data folder and reused; in production a missing key stops start-up. A keyring that
    cannot be right (previous keys without an id for the current one, an id or a key listed
    twice) stops start-up with one line naming the setting."""
    return IdProtector(
        hmac_keys=_keyring(settings, "id_hmac"),
        encryption_keys=_keyring(settings, "id_encryption"),
    )


def _keyring(settings: Settings, name: str) -> tuple[IdKey, ...]:
    current = IdKey(getattr(settings, f"{name}_key_id"), _key(settings, f"{name}_key"))
    configured = getattr(settings, f"{name}_previous_keys")
    previous = decode_previous_keys(configured.get_secret_value()) if configured else ()
    variable = f"CERTSVC_{name.upper()}_PREVIOUS_KEYS"
    if previous and current.key_id is None:
        raise SettingsError(
            f"setting CERTSVC_{name.upper()}_KEY_ID is required when {variable} is set"
        )
    for key_id, secret in previous:
        if key_id == current.key_id:
            raise SettingsError(
                f"setting {variable} is invalid: key id {key_id!r} is the current key's id"
            )
        if secret == current.secret:
            raise SettingsError(
                f"setting {variable} is invalid: key {key_id!r} is the current key itself"
            )
    if len({secret for _, secret in previous}) < len(previous):
        raise SettingsError(f"setting {variable} is invalid: one key is listed under two ids")
    return (current, *(IdKey(key_id, secret) for key_id, secret in previous))


def _key(settings: Settings, name: str) -> bytes:
    configured = getattr(settings, name)
    if configured is not None:
        return decode_key(configured.get_secret_value())
    if settings.env is Environment.PRODUCTION:
        raise SettingsError(f"setting CERTSVC_{name.upper()} is required in production")
    path = settings.data_dir / "keys" / f"{name}.key"
    if not path.exists():
        _write_private(path, new_key_text())
    try:
        return decode_key(path.read_text())
    except ValueError as exc:
        raise SettingsError(f"key file {path} is invalid: {exc}") from None


def _write_private(path: Path, text: str) -> None:
    """Write a new key file atomically: when two processes start at once, the first link wins
    and both read the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
