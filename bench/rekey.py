"""ID-key rotation costs: `certsvc rekey` and look-ups under two HMAC keys, each against a
baseline from the same run, in a scratch PostgreSQL database created and dropped here.

    python -m bench.rekey [--recipients 100000] [--admin-url postgresql://postgres@127.0.0.1/postgres]

Fills ``--recipients`` rows sealed with key set A, then measures (wall time and this
process's CPU time; the database server's CPU is not counted):
- baseline read: the job's keyset walk (1000 rows a batch) with asyncpg, no cryptography;
- baseline write: the same walk rewriting every row's digest and ciphertext with the bytes
  it read, one executemany per batch: what the database must do whatever the job computes;
- rekey A→B: the real job (``app.services.recipients.rekey.rekey``) with B current and A previous;
- rekey again: the same job when nothing is left, and ``check_only`` under B alone;
- look-ups: ``find_recipient_ids`` of 10,000 ID numbers and 2,000 ``find_recipient_id``,
  under A alone (the default, one key) and under B with A previous (during a rotation).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime

import asyncpg

from app.db.base import new_id
from app.db.engine import SessionMaker, create_engine, create_sessionmaker
from app.db.migrate import upgrade_to_head
from app.domain.id_numbers import check_character, mask_id_number
from app.protection import IdProtector, load_id_protector
from app.services.recipients.id_lookup import find_recipient_id, find_recipient_ids
from app.services.recipients.personal_data import RECIPIENT_NAME, RECIPIENT_PHONE, seal
from app.services.recipients.rekey import rekey
from app.settings import Settings
from bench.province import RECIPIENT_COLUMNS
from bench.scratch import arguments, print_time, scratch_database

A_HMAC, A_ENCRYPTION = "h" * 43 + "=", "e" * 43 + "="
B_HMAC, B_ENCRYPTION = "i" * 43 + "=", "f" * 43 + "="
BATCH = 1000


def numbers(count: int) -> list[str]:
    """Distinct valid ID numbers: county 140402, birth days from 1930 on, serials 000-999."""
    out = []
    for n in range(count):
        day = date.fromordinal(date(1930, 1, 1).toordinal() + n // 1000)
        first17 = f"140402{day:%Y%m%d}{n % 1000:03d}"
        out.append(first17 + check_character(first17))
    return out


def settings(url: str, rotated: bool, previous: bool = True) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "id_hmac_key": A_HMAC,
        "id_encryption_key": A_ENCRYPTION,
    }
    if rotated:
        values |= {
            "id_hmac_key": B_HMAC,
            "id_hmac_key_id": "h2",
            "id_encryption_key": B_ENCRYPTION,
            "id_encryption_key_id": "e2",
        }
    if rotated and previous:
        values |= {
            "id_hmac_previous_keys": f"h1:{A_HMAC}",
            "id_encryption_previous_keys": f"e1:{A_ENCRYPTION}",
        }
    return Settings(**values)  # type: ignore[arg-type]


async def measure(name: str, work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print_time(name, wall, cpu)
    return wall, cpu


async def main() -> None:
    args = arguments(__doc__)
    async with scratch_database(args.admin_url, "certsvc_rekey_bench") as (dsn, url):
        await asyncio.to_thread(upgrade_to_head, url)
        await run(dsn, url, args.recipients)


async def run(dsn: str, url: str, count: int) -> None:
    original = load_id_protector(settings(url, rotated=False))
    during = load_id_protector(settings(url, rotated=True))
    after = load_id_protector(settings(url, rotated=True, previous=False))
    people = numbers(count)
    now = datetime.now().astimezone()
    connection = await asyncpg.connect(dsn)
    await connection.copy_records_to_table(
        "recipients",
        columns=RECIPIENT_COLUMNS,
        records=[
            (
                rid,
                original.digest(n),
                original.encrypt(n),
                mask_id_number(n),
                date(int(n[6:10]), int(n[10:12]), int(n[12:14])),
                seal(original, RECIPIENT_NAME, rid, "王秀英"),
                seal(original, RECIPIENT_PHONE, rid, "13800000000"),
                "in_province",
                1,
                now,
                now,
            )
            for rid, n in ((new_id(), n) for n in people)
        ],
    )
    await connection.execute("ANALYZE recipients")
    print(f"{count:,} recipients sealed with key set A", flush=True)

    async def walk(write: bool) -> None:
        after_id = uuid.UUID(int=0)
        while True:
            async with connection.transaction():
                rows = await connection.fetch(
                    "SELECT id, id_digest, id_ciphertext FROM recipients WHERE id > $1 "
                    "ORDER BY id LIMIT $2",
                    after_id,
                    BATCH,
                )
                if not rows:
                    return
                if write:
                    await connection.executemany(
                        "UPDATE recipients SET id_digest = $2, id_ciphertext = $3 WHERE id = $1",
                        [(r["id"], r["id_digest"], r["id_ciphertext"]) for r in rows],
                    )
            after_id = rows[-1]["id"]

    engine = create_engine(settings(url, rotated=True), pool_size=2)
    sessions = create_sessionmaker(engine)
    try:
        read = await measure("baseline: keyset read, no cryptography", lambda: walk(False))
        write = await measure("baseline: keyset read + rewrite, asyncpg", lambda: walk(True))
        job = await measure("rekey A→B (B current, A previous)", lambda: rekey(sessions, during))
        idle = await measure("rekey again (nothing left)", lambda: rekey(sessions, during))
        check = await measure(
            "rekey --check under B alone", lambda: rekey(sessions, after, check_only=True)
        )
        per_row = 1e6 / count
        print(
            f"rekey: {job[1] * per_row:.1f} us CPU per row; wall {job[0] / write[0]:.2f}x the "
            f"rewrite baseline; a run with nothing left {idle[0] / read[0]:.2f}x the read "
            f"baseline ({idle[1] * per_row:.1f} us CPU per row), a check "
            f"{check[0] / read[0]:.2f}x",
            flush=True,
        )
        await lookups(sessions, people, after, during)
    finally:
        await engine.dispose()
        await connection.close()


async def lookups(
    sessions: SessionMaker, people: list[str], one: IdProtector, two: IdProtector
) -> None:
    batch = people[:: max(1, len(people) // 10_000)][:10_000]
    singles = people[1::50][:2000]
    results: dict[str, list[float]] = {}
    # After the rekey every row is under B: "one key" is B alone, "two keys" is B then A.
    for label, protector in (("one key", one), ("two keys", two)):
        for _ in range(5):
            async with sessions() as session:
                cpu = time.process_time()
                found = await find_recipient_ids(session, protector, batch)
                results.setdefault(f"batch {label}", []).append(time.process_time() - cpu)
                assert len(found) == len(batch)
                cpu = time.process_time()
                for number in singles:
                    assert await find_recipient_id(session, protector, number) is not None
                results.setdefault(f"single {label}", []).append(time.process_time() - cpu)
    for kind, size in (("batch", len(batch)), ("single", len(singles))):
        one_cpu = statistics.median(results[f"{kind} one key"])
        two_cpu = statistics.median(results[f"{kind} two keys"])
        print(
            f"{kind} look-up of {size:,}: one key {one_cpu * 1e6 / size:.1f} us CPU per ID "
            f"number, two keys {two_cpu * 1e6 / size:.1f} us ({two_cpu / one_cpu:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
