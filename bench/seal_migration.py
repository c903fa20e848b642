"""Migration 0010's cost: sealing a province's stored names and phones, in a scratch PostgreSQL
database created and dropped here.

    python -m bench.seal_migration [--recipients 100000] [--admin-url postgresql://postgres@127.0.0.1/postgres]

Migrates an empty database to 0008, fills ``--recipients`` rows as 0008 stored them (name and
phone in plain text) and a home-visit request for every 100th, then times the upgrade to 0010
(seal every value, drop the plaintext columns) and the downgrade back (open them again), wall
time and this process's CPU time (the database server's CPU is not counted). The upgrade holds
an exclusive lock on both tables for its whole run: this is the write pause an agency plans.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime

import asyncpg
from alembic import command

from app.db.base import new_id
from app.db.migrate import alembic_config
from app.domain.id_numbers import mask_id_number
from app.protection import load_id_protector
from app.settings import Settings
from bench.rekey import numbers
from bench.scratch import arguments, print_time, scratch_database

KEY_A = "e" * 43 + "="
HMAC_A = "h" * 43 + "="


async def fill(dsn: str, settings: Settings, count: int) -> None:
    protector = load_id_protector(settings)
    now = datetime.now(UTC)
    connection = await asyncpg.connect(dsn)
    try:
        client = new_id()
        await connection.execute(
            "INSERT INTO api_clients (id, name, role, regions, key_digest, key_prefix, created_at)"
            " VALUES ($1, 'bench', 'county', '[]', $2, 'bench', $3)",
            client,
            client.hex * 2,
            now,
        )
        people = [(new_id(), n) for n in numbers(count)]
        await connection.copy_records_to_table(
            "recipients",
            columns=[
                "id",
                "id_digest",
                "id_ciphertext",
                "id_masked",
                "birth_date",
                "name",
                "phone",
                "residence",
                "emergency_contacts",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    rid,
                    protector.digest(n),
                    protector.encrypt(n),
                    mask_id_number(n),
                    date(1950, 1, 1),
                    "王秀英",
                    f"138{i:08d}",
                    "in_province",
                    1,
                    now,
                    now,
                )
                for i, (rid, n) in enumerate(people)
            ],
        )
        await connection.copy_records_to_table(
            "home_visit_requests",
            columns=[
                "id",
                "recipient_id",
                "agency_code",
                "requested_by",
                "reason",
                "contact_phone",
                "status",
                "client_id",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    new_id(),
                    rid,
                    "140402",
                    "family",
                    "elderly",
                    "13900000000",
                    "open",
                    client,
                    now,
                    now,
                )
                for rid, _ in people[::100]
            ],
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def timed(name: str, work: object, *args: object) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    work(*args)  # type: ignore[operator]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print_time(name, wall, cpu, width=40)


async def main() -> None:
    args = arguments(__doc__)
    async with scratch_database(args.admin_url, "certsvc_seal_bench") as (dsn, url):
        settings = Settings(database_url=url, id_hmac_key=HMAC_A, id_encryption_key=KEY_A)  # type: ignore[arg-type]
        config = alembic_config(url, settings)
        await asyncio.to_thread(command.upgrade, config, "0008")
        await fill(dsn, settings, args.recipients)
        print(f"{args.recipients:,} recipients in plain text at 0008", flush=True)
        await asyncio.to_thread(
            timed, "upgrade 0008 → 0010 (seal)", command.upgrade, config, "0010"
        )
        await asyncio.to_thread(
            timed, "downgrade 0010 → 0008 (open)", command.downgrade, config, "0008"
        )


if __name__ == "__main__":
    asyncio.run(main())
