"""Protection of the national ID number (sensitive personal information under PIPL).

The database holds two things per number, never the number itself:
- a keyed HMAC-SHA256, the unique lookup key (equal numbers give equal digests, and without
  the key nobody can test guesses against them);
- an AES-256-GCM ciphertext, for the few cases that need the number back.

Ciphertexts start with a one-byte key version so that a second key can be introduced and the
old one retired without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from app.settings import Environment, Settings, SettingsError, decode_key, new_key_text

_KEY_VERSION = 1
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class IdProtector:
    hmac_key: bytes
    encryption_key: bytes

    def digest(self, id_number: str) -> bytes:
        return hmac.new(self.hmac_key, id_number.encode(), hashlib.sha256).digest()

    def request_digest(self, body: BaseModel) -> str:
        """SHA-256 of a request's canonical JSON, what an idempotent replay must match. An
        ``id_number`` field enters only as its keyed digest, so the stored value cannot be used
        to test guesses of the number."""
        payload = body.model_dump(mode="json")
        if payload.get("id_number"):
            payload["id_number"] = self.digest(payload["id_number"]).hex()
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def encrypt(self, id_number: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self.encryption_key).encrypt(nonce, id_number.encode(), None)
        return bytes([_KEY_VERSION]) + nonce + sealed

    def decrypt(self, blob: bytes) -> str:
        if not blob or blob[0] != _KEY_VERSION:
            raise ValueError("unknown ID ciphertext version")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        return AESGCM(self.encryption_key).decrypt(nonce, sealed, None).decode()


def load_id_protector(settings: Settings) -> IdProtector:
    """Keys come from settings; in development a missing key is generated once into the data
    folder and reused; in production a missing key stops start-up."""
    return IdProtector(
        hmac_key=_key(settings, "id_hmac_key"),
        encryption_key=_key(settings, "id_encryption_key"),
    )


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
