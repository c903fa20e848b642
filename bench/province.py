"""Build a realistic province straight into PostgreSQL with COPY.

    python -m bench.province --recipients 1000000 [--province 14] [--seed 7]

Uses CERTSVC_DATABASE_URL (PostgreSQL) and the service's ID keys (CERTSVC_ID_* or the
development keys in CERTSVC_DATA_DIR), so the service can look the generated people up.
Recipient i has a deterministic ID number (`id_number_for`), so other scripts (the legacy
CSV writer, the load drivers) can address the same people without reading them back.

Mix: benefit types weighted like a Shanxi county (pensions most), 1 to 2 benefits each; about
70 % certified within their cycle, 15 % overdue, 10 % never certified, 5 % certified only
through a failed attempt; channels mostly face, then window, terminal, home visit. Life events,
independent of that: 1 % have a reported death (stopped / deceased), 0.3 % a re-employment
that stops their first benefit, 0.2 % a reported imprisonment (suspended / incarcerated), and
0.5 % a suspected death with its verification case open (suspended / verification_required),
each dated 1 to 11 months ago and reported 3 to 40 days later.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
from sqlalchemy.engine import make_url

from app.db.base import new_id
from app.db.migrate import upgrade_to_head
from app.domain.calendar_sources import chinese_calendar_years, from_chinese_calendar
from app.domain.id_numbers import check_character, mask_id_number
from app.domain.working_days import WorkingCalendar, working_day_deadline
from app.protection import load_id_protector
from app.services.recipients.personal_data import RECIPIENT_NAME, RECIPIENT_PHONE, seal
from app.settings import get_settings

COUNTIES = {
    "14": ["140105", "140106", "140109", "140402", "140403", "140404", "140405", "140602"],
    "43": ["430102", "430103", "430104", "430111", "430202", "430203", "430302", "430304"],
}
BENEFIT_WEIGHTS = {
    "enterprise_pension": 40,
    "institution_pension": 10,
    "resident_pension": 25,
    "work_injury_disability": 6,
    "work_injury_nursing": 3,
    "work_injury_dependent": 6,
    "unemployment": 6,
    "illness_disability_allowance": 4,
}
FIRST_BIRTH = date(1930, 1, 1)
BIRTH_DAYS = 16000
CHUNK = 20000
# Life events by the share of recipients they befall: (reason, suspected, benefit-specific).
EVENTS = (
    (0.010, "death", False, False),
    (0.003, "re_employment", False, True),
    (0.002, "imprisonment", False, False),
    (0.005, "death", True, False),
)
STOP_REPORT_WORKING_DAYS = 20  # both notices
# What migration 0019 seeds: chinese-calendar's arrangements (the service's own default).
_CALENDAR = WorkingCalendar.of(map(from_chinese_calendar, chinese_calendar_years()))

# The recipients table's columns at head (names and phones sealed), in the order of a row.
RECIPIENT_COLUMNS = (
    "id",
    "id_digest",
    "id_ciphertext",
    "id_masked",
    "birth_date",
    "name_ciphertext",
    "phone_ciphertext",
    "residence",
    "emergency_contacts",
    "created_at",
    "updated_at",
)


def id_number_for(index: int, province: str = "14") -> str:
    counties = COUNTIES[province]
    region = counties[index % len(counties)]
    rest = index // len(counties)
    birth = FIRST_BIRTH + timedelta(days=rest % BIRTH_DAYS)
    serial = rest // BIRTH_DAYS
    first17 = f"{region}{birth:%Y%m%d}{serial:03d}"
    return first17 + check_character(first17)


def face_details(rng: random.Random, passed: bool = True) -> dict[str, object]:
    return {
        "app": rng.choice(["minsheng_shanxi", "laolai_jiankang"]),
        "provider": "vendor-a",
        "similarity": round(rng.uniform(0.85, 0.99) if passed else rng.uniform(0.3, 0.6), 3),
        "liveness": round(rng.uniform(0.92, 0.999), 3),
        "device_id": f"dev-{rng.randrange(10**6)}",
        "country": "CN",
        "photo_ref": f"photos/{rng.randrange(10**9)}",
    }


def details_for(channel: str, rng: random.Random, county: str) -> dict[str, object]:
    if channel == "face":
        return face_details(rng)
    if channel == "manual":
        return {
            "mode": "window",
            "office": county,
            "operator": f"op-{rng.randrange(50)}",
            "commitment_signed": True,
            "photo_ref": f"photos/{rng.randrange(10**9)}",
        }
    if channel == "grassroots_terminal":
        return {
            "service_point": f"sp-{county}-{rng.randrange(200)}",
            "terminal_id": f"t-{rng.randrange(2000)}",
            "credential_type": "social_security_card",
            "mode": "self_service_terminal",
        }
    return {
        "request_id": f"hv-{rng.randrange(10**7)}",
        "visitor_type": "grid_worker",
        "visitor_id": f"gw-{rng.randrange(5000)}",
        "visited_at": "2026-01-01T10:00:00+08:00",
        "photo_ref": f"photos/{rng.randrange(10**9)}",
    }


async def create_database_if_missing(url: str) -> None:
    """Create the benchmark database on its server, so a fresh clone needs no manual step."""
    target = make_url(url).set(drivername="postgresql")
    name = target.database
    if not name:
        raise SystemExit("CERTSVC_DATABASE_URL must name the benchmark database")
    admin_dsn = target.set(database="postgres").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", flush=True)
    finally:
        await admin.close()


async def generate(url: str, recipients: int, province: str, seed: int, today: date) -> None:
    settings = get_settings()
    protector = load_id_protector(settings)
    rng = random.Random(seed)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    client_id = new_id()
    await connection.execute(
        "INSERT INTO api_clients (id, name, role, regions, key_digest, key_prefix, created_at,"
        " revoked_at) VALUES ($1, $2, 'admin', '[]', $3, 'system', now(), now())"
        " ON CONFLICT (name) DO NOTHING",
        client_id,
        f"bench-generator-{seed}",
        uuid.uuid4().hex * 2,
    )
    client_id = await connection.fetchval(
        "SELECT id FROM api_clients WHERE name = $1", f"bench-generator-{seed}"
    )
    types, weights = zip(*BENEFIT_WEIGHTS.items(), strict=True)
    now = datetime.now(UTC)
    started = time.monotonic()
    for offset in range(0, recipients, CHUNK):
        people, benefits, certifications = [], [], []
        reports: list[tuple[object, ...]] = []
        cases: list[tuple[object, ...]] = []
        for index in range(offset, min(offset + CHUNK, recipients)):
            number = id_number_for(index, province)
            recipient_id = new_id()
            county = number[:6]
            people.append(
                (
                    recipient_id,
                    protector.digest(number),
                    protector.encrypt(number),
                    mask_id_number(number),
                    date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
                    seal(protector, RECIPIENT_NAME, recipient_id, f"person-{index}"),
                    seal(protector, RECIPIENT_PHONE, recipient_id, f"138{index % 10**8:08d}"),
                    "in_province",
                    rng.choice((0, 1, 2, 2)),
                    now,
                    now,
                )
            )
            chosen = {rng.choices(types, weights)[0] for _ in range(rng.choice((1, 1, 1, 2)))}
            for benefit_type in sorted(chosen):
                benefits.append(
                    (
                        new_id(),
                        recipient_id,
                        benefit_type,
                        county,
                        date(2015 + rng.randrange(10), 1 + rng.randrange(12), 1),
                        True,
                        f"PAY-{index}-{benefit_type[:3]}",
                        rng.random() < 0.8,
                        now,
                        now,
                    )
                )
            first = benefits[len(benefits) - len(chosen)]
            benefit = (uuid.UUID(str(first[0])), str(first[3]))
            life_event(rng, index, seed, client_id, now, recipient_id, benefit, reports, cases)
            roll = rng.random()
            if roll < 0.10:
                continue  # never certified
            months_ago = rng.randrange(0, 11) if roll < 0.80 else rng.randrange(13, 40)
            occurred = now - timedelta(days=30 * months_ago + rng.randrange(28))
            channel = rng.choices(
                ("face", "manual", "grassroots_terminal", "home_visit"), (70, 15, 10, 5)
            )[0]
            passed = roll < 0.95
            details = details_for(channel, rng, county) if passed else face_details(rng, False)
            if not passed:
                channel = "face"
            certifications.append(
                (
                    new_id(),
                    recipient_id,
                    channel,
                    "passed" if passed else "failed",
                    passed,
                    occurred,
                    now,
                    client_id,
                    f"gen-{seed}-{index}",
                    json.dumps(details),
                    "[]",
                    True,
                    details.get("mode") if channel == "manual" else None,
                    details.get("app"),
                    details.get("device_id"),
                    details.get("similarity"),
                    details.get("liveness"),
                    details.get("office"),
                    details.get("operator"),
                    details.get("service_point"),
                    details.get("terminal_id"),
                    "gen",
                )
            )
        async with connection.transaction():
            await connection.copy_records_to_table(
                "recipients",
                records=people,
                columns=RECIPIENT_COLUMNS,
            )
            await connection.copy_records_to_table(
                "benefits",
                records=benefits,
                columns=[
                    "id",
                    "recipient_id",
                    "benefit_type",
                    "agency_code",
                    "start_date",
                    "approved",
                    "external_ref",
                    "funeral_subsidy_area",
                    "created_at",
                    "updated_at",
                ],
            )
            await connection.copy_records_to_table(
                "certifications",
                records=certifications,
                columns=[
                    "id",
                    "recipient_id",
                    "channel",
                    "result",
                    "counted",
                    "occurred_at",
                    "recorded_at",
                    "client_id",
                    "source_ref",
                    "details",
                    "warnings",
                    "imported",
                    "mode",
                    "app",
                    "device_id",
                    "similarity",
                    "liveness",
                    "office",
                    "operator",
                    "service_point",
                    "terminal_id",
                    "request_digest",
                ],
            )
            await connection.copy_records_to_table(
                "stop_reports", records=reports, columns=STOP_REPORT_COLUMNS
            )
            await connection.copy_records_to_table(
                "verification_cases", records=cases, columns=CASE_COLUMNS
            )
        done = min(offset + CHUNK, recipients)
        rate = done / (time.monotonic() - started)
        print(f"\r{done:,} recipients ({rate:,.0f}/s)", end="", flush=True)
    await connection.execute("ANALYZE")
    await connection.close()
    print(f"\ngenerated {recipients:,} recipients in {time.monotonic() - started:.1f}s")


STOP_REPORT_COLUMNS = [
    "id",
    "recipient_id",
    "benefit_id",
    "reason",
    "occurred_on",
    "reported_by",
    "suspected",
    "documents",
    "deadline",
    "late",
    "calendar",
    "source_ref",
    "request_digest",
    "client_id",
    "recorded_at",
]
CASE_COLUMNS = [
    "id",
    "recipient_id",
    "benefit_id",
    "agency_code",
    "reason",
    "status",
    "stop_report_id",
    "dedupe_key",
    "opened_on",
    "opened_at",
    "documents",
]


def life_event(
    rng: random.Random,
    index: int,
    seed: int,
    client_id: uuid.UUID,
    now: datetime,
    recipient_id: uuid.UUID,
    first_benefit: tuple[uuid.UUID, str],
    reports: list[tuple[object, ...]],
    cases: list[tuple[object, ...]],
) -> None:
    """Maybe a stop report for this recipient (a benefit-specific one names its first benefit,
    given as id and agency), and for a suspected one its open case, as the stop-report
    endpoint would record them."""
    event = _pick_event(rng.random())
    if event is None:
        return
    reason, suspected, specific = event
    occurred_on = now.date() - timedelta(days=30 * rng.randrange(1, 12) + rng.randrange(28))
    recorded_at = min(
        now,
        datetime.combine(occurred_on, datetime.min.time(), UTC)
        + timedelta(days=rng.randrange(3, 41), hours=rng.randrange(1, 10)),
    )
    deadline = working_day_deadline(occurred_on, STOP_REPORT_WORKING_DAYS, _CALENDAR)
    report_id = new_id()
    reports.append(
        (
            report_id,
            recipient_id,
            first_benefit[0] if specific else None,
            reason,
            occurred_on,
            "data_match" if suspected else "family",
            suspected,
            "[]",
            deadline.day,
            recorded_at.date() > deadline.day,
            deadline.basis.value,
            f"gen-{seed}-stop-{index}",
            f"{rng.getrandbits(256):064x}",
            client_id,
            recorded_at,
        )
    )
    if suspected:
        cases.append(
            (
                new_id(),
                recipient_id,
                None,
                first_benefit[1],
                f"suspected_{reason}",
                "open",
                report_id,
                f"stop:{report_id}",
                recorded_at.date(),
                recorded_at,
                "[]",
            )
        )


def _pick_event(roll: float) -> tuple[str, bool, bool] | None:
    for share, reason, suspected, specific in EVENTS:
        if roll < share:
            return reason, suspected, specific
        roll -= share
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--province", choices=sorted(COUNTIES), default="14")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = get_settings().database_url
    if not url.startswith("postgresql"):
        raise SystemExit("set CERTSVC_DATABASE_URL to a PostgreSQL database")
    asyncio.run(create_database_if_missing(url))
    upgrade_to_head(url, get_settings())
    asyncio.run(generate(url, args.recipients, args.province, args.seed, date.today()))


if __name__ == "__main__":
    main()
