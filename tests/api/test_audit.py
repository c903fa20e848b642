"""The append-only audit log of who changed what."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.domain.enums import Role
from tests.conftest import Api, Database
from tests.factories import face, id_number, recipient


async def test_changes_are_logged_with_who_and_what_but_no_personal_data(api: Api) -> None:
    api.set_now("2026-06-10T10:00:00+08:00")
    county = await api.new_client(Role.COUNTY, ("1404",))
    mobile = await api.new_client(Role.MOBILE)
    admin = await api.new_client(Role.ADMIN)
    number = id_number()
    rid = (await county.post("/v1/recipients", json=recipient(number))).json()["recipient_id"]
    cert = (
        await mobile.post("/v1/certifications", json=face(rid, "2026-06-10T09:00:00+08:00"))
    ).json()
    await county.post(
        f"/v1/certifications/{cert['certification_id']}/revoke", json={"reason": "wrong person"}
    )
    stop = {
        "recipient_id": rid,
        "reason": "death",
        "occurred_on": "2026-06-01",
        "reported_by": "family",
        "suspected": True,
    }
    case_id = (await county.post("/v1/stop-reports", json=stop)).json()["case_id"]
    await county.post(
        f"/v1/verification-cases/{case_id}/resolution", json={"outcome": "confirmed_eligible"}
    )

    response = await admin.get("/v1/audit-log", params={"recipient_id": rid})
    assert response.status_code == 200
    actions = [entry["action"] for entry in response.json()["items"]]
    assert actions == [
        "certification.recorded",
        "certification.revoked",
        "stop_report.recorded",
        "case.confirmed_eligible",
    ]
    assert number not in response.text
    assert "王秀英" not in response.text
    assert (await county.get("/v1/audit-log")).status_code == 403


async def test_the_database_refuses_to_rewrite_the_audit_log(
    committing_api: Api, database: Database
) -> None:
    if database.backend != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's; SQLite relies on the application")
    await committing_api.new_client(Role.ADMIN)  # creating a client writes an entry
    async with database.engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM audit_log")) >= 1
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text("UPDATE audit_log SET action = 'x'"))
        await connection.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text("DELETE FROM audit_log"))
