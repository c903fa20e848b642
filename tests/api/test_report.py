"""`certsvc report`: per-county figures, totals and charts a city office can open."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from app.db.engine import create_sessionmaker
from app.domain.enums import Role
from app.domain.policy import load_policies
from app.services.reporting.county_report import build_report, write_csv, write_xlsx
from app.services.suspension.sweep import sweep
from tests.conftest import Api, Database
from tests.factories import benefit, face, recipient

POLICIES = load_policies()


async def test_the_report_has_a_row_per_county_totals_and_charts(
    committing_api: Api, database: Database, tmp_path: Path
) -> None:
    committing_api.set_now("2026-03-15T10:00:00+08:00")
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    mobile = await committing_api.new_client(Role.MOBILE)
    ids = []
    for code in ("140402", "140402", "140403"):
        body = recipient(benefits=[benefit(agency_code=code)])
        ids.append((await county.post("/v1/recipients", json=body)).json()["recipient_id"])
    await mobile.post("/v1/certifications", json=face(ids[0], "2026-03-15T09:00:00+08:00"))
    sessions = create_sessionmaker(database.engine)
    await sweep(sessions, POLICIES, date(2026, 9, 1))  # ids[0] overdue; the others never certified

    async with sessions() as session:
        report = await build_report(session, POLICIES, "1404", date(2026, 9, 1))
    assert [row.agency_code for row in report.rows] == ["140402", "140403"]
    assert report.totals()["in_scope"] == 3
    assert report.totals()["suspended"] == 3
    assert dict(report.suspensions_by_month)["2026-09"] == 3

    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    write_csv(report, csv_path)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8-sig")))
    assert [row["agency_code"] for row in rows] == ["140402", "140403", "total"]
    assert rows[-1]["in_scope"] == "3"

    write_xlsx(report, xlsx_path)
    book = load_workbook(xlsx_path)
    assert book.sheetnames == ["progress 2026-09-01", "channel mix", "suspensions"]
    assert len(book["channel mix"]._charts) == 1
    assert len(book["suspensions"]._charts) == 1
    face_row = [r for r in book["channel mix"].iter_rows(values_only=True) if r[0] == "face"]
    assert face_row == [("face", 1)]
