"""Certification ingest per second, single (POST /v1/certifications) and batch (POST
/v1/certifications/batch, 1000 items a request), against plain asyncpg INSERTs of the same
rows with a durable commit per request-equivalent.

    python -m bench.ingest [--seconds 20] [--warmup 3] [--single-connections 16]
        [--batch-connections 2] [--batch-size 1000] [--port 8814] [--workers 1]

Needs CERTSVC_DATABASE_URL (PostgreSQL) and CERTSVC_DATA_DIR of the benchmark database built
by bench.province. Creates a mobile client, starts `certsvc serve`, and drives it with the
asyncio driver of bench.loadgen in its own process (bodies are generated per request, and at
these rates the driver costs a few % of a core; its CPU is printed). Each certification is a
passed face check of a random generated recipient without a stop report (those certify;
`harness.sample_recipient_ids`), occurred_at = now, with a unique source_ref starting
`bench-<run>-`. Every request is one transaction committed before the
answer, with PostgreSQL's durable defaults (printed). The mobile role's per-client rate limit
is lifted for the server (CERTSVC_RATE_LIMITS, unless set): one client stands for many.
``--workers N`` serves with N uvicorn processes, as a deployment would with one per core; the
server CPU printed is then theirs and their parent's together.

Baseline: the same number of rows as the service accepted, inserted by asyncpg into a scratch
table `LIKE certifications INCLUDING ALL` (same columns, primary key, unique and recipient
indexes; no foreign keys): for single, one INSERT per transaction from as many connections as
the driver used; for batch, one executemany of ``--batch-size`` rows per transaction.

At the end the run's certifications (and the outbox events and verification cases they
caused), the scratch table and the client are deleted. Targets (reported, not asserted):
batch at least 5,000 certifications/s, single at least 500/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from bench import harness
from bench.province import face_details

SCRATCH_COLUMNS = (
    "id",
    "recipient_id",
    "channel",
    "result",
    "counted",
    "occurred_at",
    "recorded_at",
    "client_id",
    "source_ref",
    "request_digest",
    "details",
    "warnings",
    "imported",
    "app",
    "device_id",
    "similarity",
    "liveness",
)


def scratch_rows(
    count: int, recipients: list[str], client_id: uuid.UUID, prefix: str
) -> list[tuple[object, ...]]:
    """Rows shaped like the service's: a face check with its evidence JSON and columns."""
    rng = random.Random(3)
    now = datetime.now(UTC)
    rows: list[tuple[object, ...]] = []
    for number in range(count):
        details = face_details(rng)
        rows.append(
            (
                uuid.uuid4(),
                uuid.UUID(rng.choice(recipients)),
                "face",
                "passed",
                True,
                now,
                now,
                client_id,
                f"{prefix}{number}",
                f"{rng.getrandbits(256):064x}",
                json.dumps(details),
                "[]",
                False,
                details["app"],
                details["device_id"],
                details["similarity"],
                details["liveness"],
            )
        )
    return rows


async def insert_baseline(
    table: str, rows: list[tuple[object, ...]], per_commit: int, connections: int
) -> float:
    """Insert ``rows`` from ``connections`` connections, ``per_commit`` rows a transaction;
    seconds taken."""
    placeholders = ", ".join(f"${n}" for n in range(1, len(SCRATCH_COLUMNS) + 1))
    statement = f"INSERT INTO {table} ({', '.join(SCRATCH_COLUMNS)}) VALUES ({placeholders})"
    chunks = [rows[i : i + per_commit] for i in range(0, len(rows), per_commit)]
    pool = await asyncpg.create_pool(
        harness.asyncpg_dsn(), min_size=connections, max_size=connections
    )
    queue: asyncio.Queue[list[tuple[object, ...]]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        async with pool.acquire() as connection:
            while not queue.empty():
                chunk = queue.get_nowait()
                if len(chunk) == 1:
                    await connection.execute(statement, *chunk[0])  # autocommit: one commit
                else:
                    async with connection.transaction():
                        await connection.executemany(statement, chunk)

    try:
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.monotonic() - started
    finally:
        await pool.close()


async def cleanup(client: str) -> dict[str, int]:
    """Delete what this run's client recorded, then the client.

    Ids are gathered first and deleted with ``= ANY(array)``, which always takes the indexes:
    tables that grew during the run have statistics from before it, and a join planned on
    those runs for many minutes."""
    connection = await harness.connect()
    removed: dict[str, int] = {}
    try:
        client_id = await connection.fetchval("SELECT id FROM api_clients WHERE name = $1", client)
        if client_id is None:
            return removed
        ours = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM certifications WHERE client_id = $1 AND source_ref LIKE 'bench-%'",
                client_id,
            )
        ]
        async with connection.transaction():
            if await connection.fetchval("SELECT to_regclass('outbox_events') IS NOT NULL"):
                # The certified events by their dedupe keys (certified:<certification>:<benefit>).
                keys = [
                    row["key"]
                    for row in await connection.fetch(
                        "SELECT 'certified:' || c.id || ':' || b.id AS key FROM certifications c"
                        " JOIN benefits b ON b.recipient_id = c.recipient_id"
                        " WHERE c.id = ANY($1::uuid[])",
                        ours,
                    )
                ]
                events = [
                    row["id"]
                    for row in await connection.fetch(
                        "SELECT id FROM outbox_events WHERE dedupe_key = ANY($1::text[])", keys
                    )
                ]
                if await connection.fetchval(
                    "SELECT to_regclass('webhook_deliveries') IS NOT NULL"
                ):
                    await connection.execute(
                        "DELETE FROM webhook_deliveries WHERE event_id = ANY($1::uuid[])", events
                    )
                status = await connection.execute(
                    "DELETE FROM outbox_events WHERE id = ANY($1::uuid[])", events
                )
                removed["outbox events"] = int(status.split()[-1])
            status = await connection.execute(
                "DELETE FROM verification_cases WHERE certification_id = ANY($1::uuid[])", ours
            )
            removed["verification cases"] = int(status.split()[-1])
            status = await connection.execute(
                "DELETE FROM certifications WHERE id = ANY($1::uuid[])", ours
            )
            removed["certifications"] = int(status.split()[-1])
        await harness.drop_client(connection, client)
    finally:
        await connection.close()
    return removed


async def prepare(count: int, table: str) -> tuple[list[str], str]:
    connection = await harness.connect()
    try:
        ids = await harness.sample_recipient_ids(connection, count, certifying=True)
        await connection.execute(
            f"CREATE TABLE {table} (LIKE certifications INCLUDING ALL)"
        )  # logged: commits are as durable as the service's
        return ids, await harness.durability(connection)
    finally:
        await connection.close()


async def baselines(
    table: str,
    client: str,
    recipients: list[str],
    counts: dict[str, tuple[int, int, int]],
) -> dict[str, tuple[int, float]]:
    connection = await harness.connect()
    try:
        client_id = await connection.fetchval("SELECT id FROM api_clients WHERE name = $1", client)
    finally:
        await connection.close()
    measured = {}
    for name, (rows, per_commit, connections) in counts.items():
        data = scratch_rows(max(rows, 1), recipients, client_id, f"bench-{name}-")
        measured[name] = (len(data), await insert_baseline(table, data, per_commit, connections))
    return measured


async def drop_table(table: str) -> None:
    connection = await harness.connect()
    try:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--single-connections", type=int, default=16)
    parser.add_argument("--batch-connections", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=8814)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    harness.database_url()
    # One mobile client stands for many backends: its per-client rate limit (500/s by default)
    # would cap the figure being measured. The server inherits this environment.
    os.environ.setdefault("CERTSVC_RATE_LIMITS", '{"mobile": 0}')
    token = harness.run_token()
    client, table = f"bench-ingest-{token}", f"bench_ingest_scratch_{token}"
    harness.log(f"drawing {args.recipients:,} recipients")
    ids, durable = asyncio.run(prepare(args.recipients, table))
    harness.log(f"creating client {client}")
    key = harness.create_client(client, "mobile")
    results: dict[str, harness.LoadResult] = {}
    try:
        with harness.scratch_dir("bench-ingest-") as folder:
            recipients = folder / "recipients.txt"
            recipients.write_text("\n".join(ids) + "\n")
            plan = [
                ("single", args.single_connections, {}),
                ("batch", args.batch_connections, {"batch_size": args.batch_size}),
            ]
            with harness.certsvc_server(args.port, args.workers) as server:
                # One warm-up (single posts) before the measured windows, not one per mode: a
                # 1000-item batch can take longer than any warm-up.
                harness.python_load(
                    server,
                    key,
                    args.warmup,
                    args.single_connections,
                    "single",
                    recipients=recipients,
                    prefix=f"bench-{token}-warm-",
                )
                for mode, connections, extra in plan:
                    result = harness.python_load(
                        server,
                        key,
                        args.seconds,
                        connections,
                        mode,
                        recipients=recipients,
                        prefix=f"bench-{token}-{mode}-",
                        **extra,
                    )
                    results[mode] = result
                    print(
                        f"{mode}: {result.items_per_second:,.0f} certifications/s "
                        f"({result.detail['statuses']}, items {result.detail['item_statuses']})",
                        flush=True,
                    )
        counts = {
            "single": (results["single"].items, 1, args.single_connections),
            "batch": (results["batch"].items, args.batch_size, args.batch_connections),
        }
        harness.log("baseline inserts")
        base = asyncio.run(baselines(table, client, ids, counts))
    finally:
        harness.log("cleaning up")
        removed = asyncio.run(cleanup(client))
        asyncio.run(drop_table(table))
        harness.log("cleaned up")

    print(
        f"\ncertification ingest, {args.seconds:g} s each after {args.warmup:g} s warm-up, "
        f"driver python (bench.loadgen); {harness.accelerators(args.workers)}; "
        f"{harness.machine_speed()}; {durable}; "
        f"CERTSVC_RATE_LIMITS={os.environ['CERTSVC_RATE_LIMITS']}"
    )
    rows = []
    for mode, result in results.items():
        count, seconds = base[mode]
        baseline = count / seconds
        per_commit = 1 if mode == "single" else args.batch_size
        rows.append(
            (
                f"{mode} ({result.detail['requests']} requests × "
                f"{1 if mode == 'single' else args.batch_size})",
                f"{result.items:,}",
                f"{result.items_per_second:,.0f}",
                f"{result.items_per_cpu_second:,.0f}",
                f"{result.p50_ms:,.0f} / {result.p99_ms:,.0f}",
                f"{baseline:,.0f} ({count:,} rows, {per_commit}/commit)",
                harness.ratio(result.items_per_second, baseline),
                *result.usage(),
            )
        )
    harness.print_table(
        [
            "ingest",
            "accepted",
            "certifications/s",
            "per server CPU-s",
            "p50 / p99 ms",
            "baseline: asyncpg INSERT rows/s",
            "vs baseline",
            *harness.USAGE_HEADERS,
        ],
        rows,
    )
    print("cleaned up: " + ", ".join(f"{n} {what}" for what, n in removed.items()))


if __name__ == "__main__":
    main()
