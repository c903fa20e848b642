"""``certsvc rekey``: the operator's view of a rotation, on an embedded SQLite database."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

from app.db.base import new_id
from app.db.engine import create_engine, create_sessionmaker
from app.db.models import Recipient
from app.domain.enums import Residence
from app.protection import load_id_protector
from app.services.recipients.personal_data import RECIPIENT_NAME, seal
from app.settings import Settings
from tests.cli import certsvc
from tests.factories import id_number

A_HMAC, A_ENCRYPTION = "h" * 43 + "=", "e" * 43 + "="
B_HMAC, B_ENCRYPTION = "i" * 43 + "=", "f" * 43 + "="
ORIGINAL = {"CERTSVC_ID_HMAC_KEY": A_HMAC, "CERTSVC_ID_ENCRYPTION_KEY": A_ENCRYPTION}
RETIRED = {
    "CERTSVC_ID_HMAC_KEY": B_HMAC,
    "CERTSVC_ID_HMAC_KEY_ID": "h2",
    "CERTSVC_ID_ENCRYPTION_KEY": B_ENCRYPTION,
    "CERTSVC_ID_ENCRYPTION_KEY_ID": "e2",
}
ROTATED = {
    **RETIRED,
    "CERTSVC_ID_HMAC_PREVIOUS_KEYS": f"h1:{A_HMAC}",
    "CERTSVC_ID_ENCRYPTION_PREVIOUS_KEYS": f"e1:{A_ENCRYPTION}",
}


def _certsvc(tmp_path: Path, keys: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return certsvc(tmp_path, *args, env=keys)


async def _register_under_original_keys(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        id_hmac_key=A_HMAC,
        id_encryption_key=A_ENCRYPTION,
    )
    protector = load_id_protector(settings)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for number in (id_number(), id_number()):
                row_id = new_id()
                session.add(
                    Recipient(
                        id=row_id,
                        id_digest=protector.digest(number),
                        id_ciphertext=protector.encrypt(number),
                        id_masked=number[:4] + "*" * 10 + number[-4:],
                        birth_date=date(1950, 1, 1),
                        name_ciphertext=seal(protector, RECIPIENT_NAME, row_id, "王秀英"),
                        residence=Residence.IN_PROVINCE,
                        emergency_contacts=1,
                    )
                )
    finally:
        await engine.dispose()


async def test_the_operator_checks_rekeys_and_confirms_before_removing_old_keys(
    tmp_path: Path,
) -> None:
    assert _certsvc(tmp_path, ORIGINAL, "migrate").returncode == 0
    await _register_under_original_keys(tmp_path)

    pending = _certsvc(tmp_path, ROTATED, "rekey", "--check")
    assert pending.returncode == 1, pending.stderr
    assert "recipients 2: to rewrite 2, unreadable 0" in pending.stdout
    assert pending.stdout.strip().endswith("previous keys are still needed")

    done = _certsvc(tmp_path, ROTATED, "rekey", "--batch-size", "1")
    assert done.returncode == 0, done.stderr
    assert "recipients 2: rewritten 2, unreadable 0, registered twice 0" in done.stdout
    assert "names and phones: rewritten 2, unreadable 0" in done.stdout
    assert "--after" in done.stderr  # the progress line says how to resume

    confirmed = _certsvc(tmp_path, RETIRED, "rekey", "--check")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "recipients 2: to rewrite 0" in confirmed.stdout
    assert "names and phones: to rewrite 0, unreadable 0" in confirmed.stdout
    assert "nothing stored needs a previous key" in confirmed.stdout

    # Removing the keys before the job ran shows up as unreadable rows, never as a crash.
    early = _certsvc(tmp_path, ORIGINAL, "rekey", "--check")
    assert early.returncode == 1
    assert "unreadable 2" in early.stdout and "Traceback" not in early.stderr
    assert "recipients.name of " in early.stdout  # each unreadable name is listed by row


def test_a_bad_keyring_stops_the_command_in_one_line(tmp_path: Path) -> None:
    result = _certsvc(
        tmp_path, {**ORIGINAL, "CERTSVC_ID_HMAC_PREVIOUS_KEYS": f"h1:{B_HMAC}"}, "rekey"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "certsvc: setting CERTSVC_ID_HMAC_KEY_ID is required when "
        "CERTSVC_ID_HMAC_PREVIOUS_KEYS is set"
    )
