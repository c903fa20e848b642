"""Legacy history import: validated rows load once, bad rows are set aside with reasons."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import select

from app.db.engine import create_sessionmaker
from app.db.models import Certification
from app.domain.enums import Role
from app.protection import IdProtector
from app.services.certifications.imports import COLUMNS, import_certifications
from tests.conftest import Api, Database
from tests.factories import face, id_number, recipient, with_wrong_check


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _face_row(number: str, occurred_at: str, source_ref: str = "") -> dict[str, str]:
    body = face("unused", occurred_at)
    return {
        "id_number": number,
        "channel": "face",
        "result": "passed",
        "occurred_at": occurred_at,
        "source_ref": source_ref,
        "details": json.dumps(body["details"]),
    }


async def test_import_loads_years_of_history_once_and_rejects_bad_rows(
    committing_api: Api, database: Database, protector: IdProtector, tmp_path: Path
) -> None:
    committing_api.set_now("2026-06-10T10:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    known = id_number()
    created = await county.post("/v1/recipients", json=recipient(known))
    assert created.status_code == 201
    recipient_id = created.json()["recipient_id"]

    source = tmp_path / "history.csv"
    _write(
        source,
        [
            _face_row(known, "2023-03-15T09:30:00+08:00", "platform-1"),
            _face_row(known, "2026-03-15T09:30:00+08:00"),  # no reference: keyed by digest
            _face_row(id_number(), "2025-01-01T09:00:00+08:00"),  # nobody registered
            _face_row(with_wrong_check(known), "2025-01-01T09:00:00+08:00"),
            {**_face_row(known, "2025-02-01T09:00:00+08:00"), "details": "{not json"},
            {**_face_row(known, "2025-03-01T09:00:00+08:00"), "details": "{}"},
        ],
    )
    rejects = tmp_path / "rejects.csv"
    sessionmaker = create_sessionmaker(database.engine)
    first = await import_certifications(sessionmaker, protector, source, rejects)
    assert (first.rows, first.loaded, first.already_present, first.rejected) == (6, 2, 0, 4)
    assert first.reasons == {
        "unknown_recipient": 1,
        "invalid_id_number": 1,
        "details_not_json": 1,
        "invalid": 1,
    }
    with rejects.open(encoding="utf-8") as handle:
        rejected_lines = [row["line"] for row in csv.DictReader(handle)]
    assert sorted(rejected_lines) == ["4", "5", "6", "7"]

    again = await import_certifications(sessionmaker, protector, source, rejects)
    assert (again.loaded, again.already_present, again.rejected) == (0, 2, 4)

    async with sessionmaker() as session:
        stored = (await session.scalars(select(Certification))).all()
    assert len(stored) == 2
    assert all(row.imported and row.counted for row in stored)

    # Imported history moves validity like any certification: the 2026-03 one decides.
    payment = await committing_api.new_client(Role.PAYMENT)
    answer = await payment.get(
        f"/v1/recipients/{recipient_id}/eligibility", params={"on": "2026-06-10"}
    )
    assert answer.json()["benefits"][0]["valid_through"] == "2026-08-31"
