"""Point eligibility: GET /v1/recipients/{id}/eligibility requests per second, against two
ceilings, driven the same way:

- the ceiling in the same server setup (the issue's reference): ``GET /bench/ceiling/{id}``,
  served by the same `certsvc serve` process (same create_app, middleware stack and uvicorn
  settings), enabled by CERTSVC_BENCH_CEILING, reading one recipient row with asyncpg from a
  pool (app/routers/ceiling.py);
- a second reference row: a bare ASGI app (bench.ceiling) under the same uvicorn settings,
  without the framework, reading the same row the same way.

    python -m bench.point_eligibility [--seconds 20] [--rounds 4] [--warmup 3] [--connections 32]
        [--recipients 10000] [--driver auto|wrk|python] [--port 8812] [--ceiling-port 8813]

Needs CERTSVC_DATABASE_URL (PostgreSQL) and CERTSVC_DATA_DIR of the benchmark database built
by bench.province. Draws ``--recipients`` random recipient_ids, creates a mobile API client
(`certsvc clients create --role mobile`), starts `certsvc serve` (with the ceiling endpoint) and
the bare ASGI ceiling side by side, warms each endpoint up, then loads them in turn,
``--rounds`` slices of ``--seconds``/``--rounds`` each, so that other load on a shared machine
weighs on all alike (only one is loaded at a time; the others idle). Same recipients, same
connections, same driver: wrk when installed, otherwise the asyncio driver of bench.loadgen,
each its own process. Latencies are the median of the slices' p50 and p99; server CPU is read
from /proc for the process that served the slice. The client is deleted at the end.
Target (reported, not asserted): at least 50 % of the same-setup ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from bench import harness

ELIGIBILITY = "certsvc eligibility"
CEILING = "ceiling: same app, one asyncpg row"
RAW_CEILING = "raw ASGI, one asyncpg row"

# Seconds between slices: requests the driver abandoned at the end of a slice finish on the
# server before the other endpoint's slice starts.
SETTLE = 1.0


async def prepare(count: int) -> list[str]:
    connection = await harness.connect()
    try:
        return await harness.sample_recipient_ids(connection, count)
    finally:
        await connection.close()


async def cleanup(client: str) -> None:
    connection = await harness.connect()
    try:
        await harness.drop_client(connection, client)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured, per endpoint")
    parser.add_argument("--rounds", type=int, default=4, help="alternating slices per endpoint")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--port", type=int, default=8812)
    parser.add_argument("--ceiling-port", type=int, default=8813)
    args = parser.parse_args()
    harness.database_url()
    driver = harness.choose_driver(args.driver)
    ids = asyncio.run(prepare(args.recipients))
    client = f"bench-eligibility-{harness.run_token()}"
    key = harness.create_client(client, "mobile")
    # The service under test serves the ceiling endpoint too (off unless this is set), and its
    # rate limiter still runs, with a rate no benchmark reaches (the default is 500/s a client).
    os.environ["CERTSVC_BENCH_CEILING"] = "1"
    os.environ["CERTSVC_RATE_LIMITS"] = '{"mobile": 1000000}'
    slices: dict[str, list[harness.LoadResult]] = {}
    try:
        with (
            harness.scratch_dir("bench-eligibility-") as folder,
            harness.certsvc_server(args.port) as service,
            harness.ceiling_server(args.ceiling_port) as raw_server,
        ):
            eligibility_paths = folder / "eligibility.txt"
            eligibility_paths.write_text("".join(f"/v1/recipients/{i}/eligibility\n" for i in ids))
            ceiling_paths = folder / "ceiling.txt"
            ceiling_paths.write_text("".join(f"/bench/ceiling/{i}\n" for i in ids))
            # The bare ASGI ceiling answers any path holding a UUID: the very eligibility paths.
            endpoints = {
                ELIGIBILITY: (service, eligibility_paths),
                CEILING: (service, ceiling_paths),
                RAW_CEILING: (raw_server, eligibility_paths),
            }
            for server, paths in endpoints.values():
                harness.check_get(server, paths.read_text().split("\n", 1)[0], key)
                harness.get_load(driver, server, paths, key, args.warmup, args.connections)
            # Alternating slices, so that the other load on a shared machine, which comes and
            # goes, weighs on every endpoint alike; an idle server meanwhile waits on epoll.
            for _ in range(args.rounds):
                for label, (server, paths) in endpoints.items():
                    slices.setdefault(label, []).append(
                        harness.get_load(
                            driver, server, paths, key, args.seconds / args.rounds, args.connections
                        )
                    )
                    time.sleep(SETTLE)
    finally:
        asyncio.run(cleanup(client))
    results = {label: harness.combine(parts) for label, parts in slices.items()}
    report(results, args, len(ids), driver)


def report(
    results: dict[str, harness.LoadResult], args: argparse.Namespace, count: int, driver: str
) -> None:
    ceiling, raw = results[CEILING], results[RAW_CEILING]
    print(
        f"\npoint eligibility, {count:,} random recipients, {args.connections} connections, "
        f"{args.seconds:g} s each in {args.rounds} alternating slices after {args.warmup:g} s "
        f"warm-up; driver {driver}; {harness.accelerators()}; {harness.machine_speed()}"
    )
    harness.print_table(
        [
            "endpoint",
            "req/s",
            "slices req/s",
            "p50 ms",
            "p99 ms",
            "non-2xx",
            "server CPU µs/req",
            "vs ceiling",
            "vs ceiling (CPU)",
            "vs raw ASGI",
            "vs raw ASGI (CPU)",
            *harness.USAGE_HEADERS,
        ],
        [
            (
                label,
                f"{r.per_second:,.0f}",
                " ".join(f"{x:,.0f}" for x in r.detail["slices"]),
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                r.requests - r.ok,
                f"{1e6 * r.server_cpu / max(r.items, 1):,.0f}",
                harness.ratio(r.per_second, ceiling.per_second),
                harness.ratio(r.items_per_cpu_second, ceiling.items_per_cpu_second),
                harness.ratio(r.per_second, raw.per_second),
                harness.ratio(r.items_per_cpu_second, raw.items_per_cpu_second),
                *r.usage(),
            )
            for label, r in results.items()
        ],
    )


if __name__ == "__main__":
    main()
