"""ID-key rotation: keyring settings, ciphertext formats, digests and request digests."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from app.protection import IdKey, IdProtector, load_id_protector
from app.settings import Environment, Settings, SettingsError, load_settings

NUMBER = "140402195001011237"


def key_text() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


class Body(BaseModel):
    id_number: str | None
    source_ref: str


# Settings: bad keyrings stop start-up in one line that names the variable and shows no key.


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("CERTSVC_ID_HMAC_PREVIOUS_KEYS", "{key}", "entry 1 is not id:key"),
        ("CERTSVC_ID_HMAC_PREVIOUS_KEYS", "old:c2hvcnQ=", "key 'old' must be base64 of 32"),
        ("CERTSVC_ID_ENCRYPTION_PREVIOUS_KEYS", "a:{key},a:{key}", "'a' is listed twice"),
        ("CERTSVC_ID_ENCRYPTION_PREVIOUS_KEYS", "{key}:{key}", "a key id is 1 to 16"),
        ("CERTSVC_ID_ENCRYPTION_KEY_ID", "has space", "a key id is 1 to 16"),
        ("CERTSVC_ID_HMAC_KEY_ID", "x" * 17, "a key id is 1 to 16"),
    ],
)
def test_a_malformed_keyring_setting_is_refused_in_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    key = key_text()
    monkeypatch.setenv(variable, value.format(key=key))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"setting {variable} is invalid: ")
    assert complaint in message
    assert key not in message and key[:20] not in message
    assert "\n" not in message


def test_previous_keys_parse_with_spaces_and_an_empty_list_is_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old, older = key_text(), key_text()
    monkeypatch.setenv("CERTSVC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CERTSVC_ID_HMAC_KEY", key_text())
    monkeypatch.setenv("CERTSVC_ID_HMAC_KEY_ID", "2027")
    monkeypatch.setenv("CERTSVC_ID_HMAC_PREVIOUS_KEYS", f" 2026 : {old} , 2025:{older},")
    monkeypatch.setenv("CERTSVC_ID_ENCRYPTION_PREVIOUS_KEYS", "")
    protector = load_id_protector(load_settings())
    assert [key.key_id for key in protector.hmac_keys] == ["2027", "2026", "2025"]
    assert protector.hmac_keys[1].secret == base64.b64decode(old)
    assert [key.key_id for key in protector.encryption_keys] == [None]
    assert old not in repr(protector) and "secret" not in repr(protector)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"id_hmac_previous_keys": "old:{old}"},
            "setting CERTSVC_ID_HMAC_KEY_ID is required when CERTSVC_ID_HMAC_PREVIOUS_KEYS is set",
        ),
        (
            {"id_encryption_key_id": "k1", "id_encryption_previous_keys": "k1:{old}"},
            "setting CERTSVC_ID_ENCRYPTION_PREVIOUS_KEYS is invalid: key id 'k1' is the "
            "current key's id",
        ),
        (
            {"id_encryption_key_id": "k2", "id_encryption_previous_keys": "k1:{current}"},
            "setting CERTSVC_ID_ENCRYPTION_PREVIOUS_KEYS is invalid: key 'k1' is the current "
            "key itself",
        ),
        (
            {"id_hmac_key_id": "h3", "id_hmac_previous_keys": "h1:{old},h2:{old}"},
            "setting CERTSVC_ID_HMAC_PREVIOUS_KEYS is invalid: one key is listed under two ids",
        ),
    ],
)
def test_an_inconsistent_keyring_stops_start_up_in_one_line(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    current, old = key_text(), key_text()
    configured = {name: value.format(current=current, old=old) for name, value in values.items()}
    with pytest.raises(SettingsError) as raised:
        load_id_protector(
            settings(tmp_path, id_hmac_key=current, id_encryption_key=current, **configured)
        )
    assert str(raised.value) == message


def test_production_still_requires_the_current_keys_with_previous_ones_set(tmp_path: Path) -> None:
    configured = settings(
        tmp_path,
        env=Environment.PRODUCTION,
        id_hmac_key=key_text(),
        id_encryption_key_id="k2",
        id_encryption_previous_keys=f"k1:{key_text()}",
    )
    with pytest.raises(SettingsError, match="CERTSVC_ID_ENCRYPTION_KEY is required"):
        load_id_protector(configured)


# Ciphertexts: format 1 (unnamed key, as before rotation) and format 2 (names its key).


def protector(
    hmac: tuple[tuple[str | None, bytes], ...], encryption: tuple[tuple[str | None, bytes], ...]
) -> IdProtector:
    return IdProtector(
        hmac_keys=tuple(IdKey(key_id, secret) for key_id, secret in hmac),
        encryption_keys=tuple(IdKey(key_id, secret) for key_id, secret in encryption),
    )


H1, H2, E1, E2 = (secrets.token_bytes(32) for _ in range(4))


def test_one_unnamed_key_writes_the_format_the_service_always_wrote() -> None:
    single = protector(((None, H1),), ((None, E1),))
    blob = single.encrypt(NUMBER)
    assert blob[0] == 1 and len(blob) == 1 + 12 + len(NUMBER) + 16
    nonce, sealed = blob[1:13], blob[13:]
    assert AESGCM(E1).decrypt(nonce, sealed, None).decode() == NUMBER
    # And what the service wrote before reads back.
    legacy_nonce = secrets.token_bytes(12)
    legacy = bytes([1]) + legacy_nonce + AESGCM(E1).encrypt(legacy_nonce, NUMBER.encode(), None)
    assert single.decrypt(legacy) == NUMBER
    assert single.sealed_with_current_key(legacy)


def test_a_named_key_names_itself_and_a_rotated_keyring_reads_every_older_ciphertext() -> None:
    original = protector(((None, H1),), ((None, E1),))
    named = protector(((None, H1),), (("k1", E1),))
    rotated = protector(((None, H1),), (("k2", E2), ("k1", E1)))
    from_original, from_k1, from_k2 = (
        original.encrypt(NUMBER),
        named.encrypt(NUMBER),
        rotated.encrypt(NUMBER),
    )
    assert from_k1[:4] == b"\x02\x02k1" and from_k2[:4] == b"\x02\x02k2"
    assert len(from_k2) <= 64  # the column's declared size, with the longest id: 48 + 16
    assert [rotated.decrypt(blob) for blob in (from_original, from_k1, from_k2)] == [NUMBER] * 3
    assert [rotated.sealed_with_current_key(b) for b in (from_original, from_k1, from_k2)] == [
        False,
        False,
        True,
    ]
    assert named.sealed_with_current_key(from_k1) and not named.sealed_with_current_key(
        from_original
    )


def test_a_reader_holding_the_key_under_another_id_or_none_still_opens_it() -> None:
    """During a rolling change of configuration a replica may know a key before its id."""
    sealed = protector(((None, H1),), (("k1", E1),)).encrypt(NUMBER)
    assert protector(((None, H1),), ((None, E1),)).decrypt(sealed) == NUMBER
    assert protector(((None, H1),), (("k2", E2), ("old", E1))).decrypt(sealed) == NUMBER


def test_ciphertexts_of_a_removed_key_or_tampered_ones_are_value_errors_naming_no_number() -> None:
    rotated = protector(((None, H1),), (("k2", E2), ("k1", E1)))
    retired = protector(((None, H1),), (("k2", E2),))
    from_k2 = rotated.encrypt(NUMBER)
    with pytest.raises(ValueError, match="of key 'k2' opens with none of the configured keys"):
        protector(((None, H1),), (("k3", E1),)).decrypt(from_k2)
    unnamed = protector(((None, H1),), ((None, E1),)).encrypt(NUMBER)
    with pytest.raises(ValueError, match=r"^the ID ciphertext opens with none"):
        retired.decrypt(unnamed)
    # The key id is authenticated: relabelled as k1, a k2 ciphertext no longer opens, not even
    # with k2 configured.
    relabelled = b"\x02\x02k1" + from_k2[4:]
    with pytest.raises(ValueError, match="of key 'k1' opens with none"):
        rotated.decrypt(relabelled)
    for garbage in (b"", b"\x02", b"\x07abc"):
        with pytest.raises(ValueError, match="unknown ID ciphertext format"):
            rotated.decrypt(garbage)


# Digests: look-ups search under every HMAC key, new rows store the current one.


def test_digests_are_under_every_hmac_key_current_first() -> None:
    before = protector((("h1", H1),), ((None, E1),))
    during = protector((("h2", H2), ("h1", H1)), ((None, E1),))
    after = protector((("h2", H2),), ((None, E1),))
    assert not before.has_previous_hmac_keys and during.has_previous_hmac_keys
    assert during.digests(NUMBER) == (after.digest(NUMBER), before.digest(NUMBER))
    assert during.digest(NUMBER) == after.digest(NUMBER) != before.digest(NUMBER)


def test_a_replay_recorded_before_an_hmac_rotation_still_matches_and_a_new_body_does_not() -> None:
    before = protector((("h1", H1),), ((None, E1),))
    during = protector((("h2", H2), ("h1", H1)), ((None, E1),))
    after = protector((("h2", H2),), ((None, E1),))
    body = Body(id_number=NUMBER, source_ref="msx-1")
    stored = before.request_digest(body)
    assert stored == before.request_digest(body)  # a plain, stable hex string
    assert len(stored) == 64 and str(stored) == stored
    replay = during.request_digest(body)
    assert replay != stored  # new records store the digest under the current key...
    assert replay.matches(stored)  # ...and a replay from before the rotation is recognized
    assert replay.matches(replay)
    assert not during.request_digest(Body(id_number=NUMBER, source_ref="msx-2")).matches(stored)
    other = "110101194910010014"
    assert not during.request_digest(Body(id_number=other, source_ref="msx-1")).matches(stored)
    # Once the previous key is removed the old digest can no longer be recognized.
    assert not after.request_digest(body).matches(stored)
    # Without an ID number a request digest does not depend on the key at all.
    by_id = Body(id_number=None, source_ref="msx-3")
    assert after.request_digest(by_id) == before.request_digest(by_id)
