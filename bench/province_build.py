"""A population of any size built inside PostgreSQL by INSERT … SELECT FROM generate_series, for
the province benchmark (bench.province_scale): 10 million benefits in minutes, where
bench.province's row-by-row COPY (every ID number keyed and encrypted in Python) would take
hours.

Benefit ``b`` (0 … N-1) belongs to recipient ``b * 5 // 6``: one recipient in five has two
benefits of different types. Recipient ``r`` lives in county ``r % 16`` of the two provinces'
sixteen (bench.province.COUNTIES: eight Shanxi, eight Hunan, so each province holds half), and
every random draw is ``hashint8extended`` of the row's number with a salt of its own, so a size
always gives the same rows (ids are ``md5`` of the number) and a run over them the same digest.

The mix follows bench.province: benefit types weighted like a Shanxi county; 70 % certified
within the last 11 months, 15 % last certified 13 to 39 months ago, 10 % never certified, 5 %
only through a failed face check; channels 70 % face, 15 % window, 10 % terminal, 5 % home
visit; 1 % a reported death, 0.3 % a re-employment that stops the first benefit, 0.2 % an
imprisonment, 0.5 % a suspected death with its verification case open, each 1 to 11 months ago
and reported 3 to 40 days later. So a run pays, withholds and stops.

What a payment run does not read is only plausible: ID digests and ciphertexts, names and
phones are placeholders (these people cannot be looked up by ID number), a stop report's
deadline is 28 calendar days (about 20 working days), and no registry history is written (a
run reads it only for recipients with a change, and there are none).

The five tables are filled without their indexes and constraints, which are then rebuilt from
the definitions PostgreSQL itself gave for them (``pg_get_constraintdef``, ``pg_get_indexdef``),
and vacuumed, so the schema ends exactly as the migrations made it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from bench.province import BENEFIT_WEIGHTS, COUNTIES, EVENTS

TABLES = ("recipients", "benefits", "certifications", "stop_reports", "verification_cases")
SLICE = 1_000_000  # rows per INSERT, so that progress shows
CREATED_DAYS_AGO = 400  # every row is registered well before any run's known_at
NEVER_CERTIFIED, RECENT, PASSED = 0.10, 0.80, 0.95  # cumulative shares of recipients
CHANNELS = {"face": 70, "manual": 15, "grassroots_terminal": 10, "home_visit": 5}
_COUNTIES = [code for province in sorted(COUNTIES) for code in COUNTIES[province]]
_BENEFIT_TYPES = list(BENEFIT_WEIGHTS)


def recipients_for(benefits: int) -> int:
    """How many recipients hold ``benefits`` benefits (the last one's number, plus one)."""
    return (benefits - 1) * 5 // 6 + 1 if benefits > 0 else 0


def _u(key: str, salt: int) -> str:
    """SQL for a uniform draw in [0, 1), fixed by ``key`` (a bigint expression) and ``salt``."""
    return f"((hashint8extended({key}, {salt}) & 9007199254740991)::float8 / 9007199254740992.0)"


def _text_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


def _weighted(draw: str, weights: Sequence[int]) -> str:
    """SQL for the 0-based index that ``draw`` picks with these weights."""
    total, bounds = sum(weights), list(itertools.accumulate(weights))
    cases = " ".join(f"WHEN {draw} < {bound / total!r} THEN {i}" for i, bound in enumerate(bounds))
    return f"(CASE {cases} ELSE {len(weights) - 1} END)"


_COUNTY = f"({_text_array(_COUNTIES)})[r % {len(_COUNTIES)} + 1]"
_FIRST_BENEFIT = "((6 * r + 4) / 5)"  # the number of recipient r's first benefit

# $1 the build's instant (every created_at is before it), $2 … $3 the numbers of this slice.
_RECIPIENTS = f"""
INSERT INTO recipients (id, id_digest, id_ciphertext, id_masked, birth_date, name_ciphertext,
                        phone_ciphertext, residence, emergency_contacts, created_at, updated_at)
SELECT md5('r' || r)::uuid, sha256(int8send(r)), sha256(int8send(-1 - r)),
       left({_COUNTY}, 4) || repeat('*', 14),
       date '1930-01-01' + floor({_u("r", 1)} * 16000)::int,
       sha256(int8send(r) || '\\x6e'::bytea), NULL,
       CASE WHEN {_u("r", 2)} < 0.95 THEN 'in_province'
            WHEN {_u("r", 2)} < 0.99 THEN 'out_of_province' ELSE 'overseas' END,
       (ARRAY[0, 1, 2, 2])[floor({_u("r", 3)} * 4)::int + 1],
       $1::timestamptz - interval '{CREATED_DAYS_AGO} days',
       $1::timestamptz - interval '{CREATED_DAYS_AGO} days'
FROM generate_series($2::bigint, $3::bigint) AS r
"""
_BENEFITS = f"""
INSERT INTO benefits (id, recipient_id, benefit_type, agency_code, start_date, approved,
                      external_ref, funeral_subsidy_area, created_at, updated_at)
SELECT md5('b' || b)::uuid, md5('r' || r)::uuid,
       ({_text_array(_BENEFIT_TYPES)})[(CASE WHEN second
            THEN first_type + 1 + floor({_u("r", 5)} * {len(_BENEFIT_TYPES) - 1})::int
            ELSE first_type END) % {len(_BENEFIT_TYPES)} + 1],
       {_COUNTY},
       make_date(2015 + floor({_u("b", 6)} * 10)::int, 1 + floor({_u("b", 7)} * 12)::int, 1),
       true, 'PAY-' || b, {_u("b", 8)} < 0.8,
       $1::timestamptz - interval '{CREATED_DAYS_AGO} days',
       $1::timestamptz - interval '{CREATED_DAYS_AGO} days'
FROM (SELECT b, r, b > 0 AND (b - 1) * 5 / 6 = r AS second,
             {_weighted(_u("r", 4), list(BENEFIT_WEIGHTS.values()))} AS first_type
      FROM (SELECT b, b * 5 / 6 AS r FROM generate_series($2::bigint, $3::bigint) AS b) AS n
     ) AS drawn
"""
# $4 the client that recorded them.
_CHANNEL = f"({_text_array(list(CHANNELS))})[{_weighted(_u('r', 14), list(CHANNELS.values()))} + 1]"
_CERTIFICATIONS = f"""
INSERT INTO certifications (id, recipient_id, channel, result, counted, occurred_at, recorded_at,
                            client_id, source_ref, request_digest, details, warnings, imported,
                            mode, app)
SELECT md5('c' || r)::uuid, md5('r' || r)::uuid, channel,
       CASE WHEN passed THEN 'passed' ELSE 'failed' END, passed, occurred_at,
       least($1::timestamptz,
             occurred_at + make_interval(mins => floor({_u("r", 15)} * 4320)::int)),
       $4::uuid, 'province-' || r, md5('c' || r),
       json_build_object('generated_by', 'bench.province_build'), '[]'::json, true,
       CASE WHEN channel = 'manual' THEN 'window' END,
       CASE WHEN channel = 'face' THEN 'minsheng_shanxi' END
FROM (SELECT r, roll < {PASSED} AS passed,
             CASE WHEN roll < {PASSED} THEN {_CHANNEL} ELSE 'face' END AS channel,
             $1::timestamptz - make_interval(
                 days => (30 * CASE WHEN roll < {RECENT} THEN floor({_u("r", 11)} * 11)
                                    ELSE 13 + floor({_u("r", 11)} * 27) END
                          + floor({_u("r", 12)} * 28))::int,
                 hours => floor({_u("r", 13)} * 12)::int) AS occurred_at
      FROM (SELECT r, {_u("r", 10)} AS roll FROM generate_series($2::bigint, $3::bigint) AS r) AS n
      WHERE roll >= {NEVER_CERTIFIED}) AS drawn
"""


def _event_cases(column: int) -> str:
    """SQL picking column ``column`` (0 share, 1 reason, 2 suspected, 3 benefit-specific) of
    the event that the draw ``roll`` falls in, by bench.province.EVENTS' shares."""
    bounds = itertools.accumulate(event[0] for event in EVENTS)
    whens = []
    for bound, event in zip(bounds, EVENTS, strict=True):
        value = event[column]
        sql = f"'{value}'" if isinstance(value, str) else str(value).lower()
        whens.append(f"WHEN roll < {bound!r} THEN {sql}")
    return f"(CASE {' '.join(whens)} END)"


_EVENT_SHARE = sum(event[0] for event in EVENTS)
# Stop reports, and for a suspected one its open case, in one statement ($1 … $4 as above).
_EVENTS = f"""
WITH drawn AS (
    SELECT r, {_event_cases(1)} AS reason, {_event_cases(2)} AS suspected,
           {_event_cases(3)} AS specific, occurred_on,
           least($1::timestamptz, (occurred_on::timestamp AT TIME ZONE 'UTC') + make_interval(
               days => 3 + floor({_u("r", 23)} * 38)::int,
               hours => 1 + floor({_u("r", 24)} * 9)::int)) AS recorded_at
    FROM (SELECT r, {_u("r", 20)} AS roll,
                 ($1::timestamptz AT TIME ZONE 'UTC')::date
                 - (30 * (1 + floor({_u("r", 21)} * 11)) + floor({_u("r", 22)} * 28))::int
                 AS occurred_on
          FROM generate_series($2::bigint, $3::bigint) AS r) AS n
    WHERE roll < {_EVENT_SHARE!r}
), reports AS (
    INSERT INTO stop_reports (id, recipient_id, benefit_id, reason, occurred_on, reported_by,
                              suspected, documents, deadline, late, calendar, source_ref,
                              request_digest, client_id, recorded_at)
    SELECT md5('s' || r)::uuid, md5('r' || r)::uuid,
           CASE WHEN specific THEN md5('b' || {_FIRST_BENEFIT})::uuid END, reason, occurred_on,
           CASE WHEN suspected THEN 'data_match' ELSE 'family' END, suspected, '[]'::json,
           occurred_on + 28, recorded_at::date > occurred_on + 28, 'official',
           'province-stop-' || r, md5('s' || r), $4::uuid, recorded_at
    FROM drawn
)
INSERT INTO verification_cases (id, recipient_id, benefit_id, agency_code, reason, status,
                                stop_report_id, dedupe_key, opened_on, opened_at, documents)
SELECT md5('v' || r)::uuid, md5('r' || r)::uuid, NULL, {_COUNTY}, 'suspected_' || reason,
       'open', md5('s' || r)::uuid, 'stop:' || md5('s' || r)::uuid::text, recorded_at::date,
       recorded_at, '[]'::json
FROM drawn WHERE suspected
"""
_CLIENT = """
INSERT INTO api_clients (id, name, role, regions, key_digest, key_prefix, created_at, revoked_at)
VALUES (md5('province-build')::uuid, 'province-build', 'admin', '[]', md5('province-build')
        || md5('province-build'), 'system', $1, $1)
RETURNING id
"""
# What the five tables hold besides their columns: constraints (keys, uniques, foreign keys,
# also those of other tables that point at them) and the other indexes, as statements to drop
# and to re-create them, in the order they can be re-created (keys before the foreign keys
# that need them).
_SCHEMA = """
WITH filled AS (SELECT oid FROM pg_class WHERE relname = ANY($1::text[]) AND relkind = 'r')
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop_sql,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
              pg_get_constraintdef(c.oid)) AS create_sql,
       CASE c.contype WHEN 'f' THEN 3 ELSE 1 END AS stage
FROM pg_constraint c
WHERE c.contype IN ('p', 'u', 'f')
  AND (c.conrelid IN (SELECT oid FROM filled)
       OR (c.contype = 'f' AND c.confrelid IN (SELECT oid FROM filled)))
UNION ALL
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), 2
FROM pg_index i
WHERE i.indrelid IN (SELECT oid FROM filled)
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY stage, create_sql
"""


@dataclass
class Built:
    """What a build made, and the seconds of each step."""

    benefits: int
    recipients: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


async def build(
    connection: asyncpg.Connection, benefits: int, now: datetime, *, progress: bool = True
) -> Built:
    """Fill an empty, migrated database with ``benefits`` benefits and their people."""
    recipients = recipients_for(benefits)
    built = Built(benefits, recipients)
    # A bulk load: its commits need not wait for the disk, its index builds may use memory.
    await connection.execute("SET synchronous_commit = off")
    await connection.execute("SET maintenance_work_mem = '1GB'")
    client = await connection.fetchval(_CLIENT, now)
    schema = await connection.fetch(_SCHEMA, list(TABLES))

    async def step(name: str, *statements: str) -> None:
        started = time.monotonic()
        for statement in statements:
            await connection.execute(statement)
        built.seconds[name] = built.seconds.get(name, 0.0) + time.monotonic() - started

    # Foreign keys first, then keys, then indexes: each drop leaves nothing depending on it.
    await step("drop indexes", *(row["drop_sql"] for row in sorted(schema, key=_drop_order)))
    fills = (  # (step, statement, rows to number, whether it names the recording client)
        ("recipients", _RECIPIENTS, recipients, False),
        ("benefits", _BENEFITS, benefits, False),
        ("certifications", _CERTIFICATIONS, recipients, True),
        ("stop reports and cases", _EVENTS, recipients, True),
    )
    for name, statement, count, recorded in fills:
        started = time.monotonic()
        for first in range(0, count, SLICE):
            last = min(first + SLICE, count) - 1
            arguments = (now, first, last, client) if recorded else (now, first, last)
            await connection.execute(statement, *arguments)
            if progress:
                rate = (last + 1) / (time.monotonic() - started)
                print(f"\r  {name}: {last + 1:,} of {count:,} ({rate:,.0f}/s)", end="", flush=True)
        built.seconds[name] = time.monotonic() - started
        if progress:
            print(flush=True)
    await step("rebuild indexes and keys", *(row["create_sql"] for row in schema))
    await step("vacuum analyze", *(f"VACUUM (ANALYZE) {table}" for table in TABLES))
    for table in TABLES:
        built.rows[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
    return built


def _drop_order(row: asyncpg.Record) -> int:
    return {3: 0, 1: 1, 2: 2}[row["stage"]]
