"""Point eligibility: GET /v1/recipients/{id}/eligibility requests per second, against the
ceiling of a bare ASGI endpoint reading one row with asyncpg (bench.ceiling) on the same
uvicorn settings, driven the same way.

    python -m bench.point_eligibility [--seconds 20] [--rounds 4] [--warmup 3] [--connections 32]
        [--recipients 10000] [--driver auto|wrk|python] [--port 8812] [--ceiling-port 8813]

Needs CERTSVC_DATABASE_URL (PostgreSQL) and CERTSVC_DATA_DIR of the benchmark database built
by bench.province. Draws ``--recipients`` random recipient_ids, creates a mobile API client
(`certsvc clients create --role mobile`), starts `certsvc serve` and the ceiling
(bench.ceiling) side by side, warms each up, then loads them in turn, ``--rounds`` slices of
``--seconds``/``--rounds`` each, so that other load on a shared machine weighs on both alike
(only one is loaded at a time; the other idles). Same paths, same connections, same driver:
wrk when installed, otherwise the asyncio driver of bench.loadgen, each its own process.
Latencies are the median of the slices' p50 and p99. The client is deleted at the end.
Target (reported, not asserted): at least 50 % of the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench import harness

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
    slices: dict[str, list[harness.LoadResult]] = {}
    try:
        with (
            harness.scratch_dir("bench-eligibility-") as folder,
            harness.certsvc_server(args.port) as service,
            harness.ceiling_server(args.ceiling_port) as ceiling_server,
        ):
            paths = folder / "paths.txt"
            paths.write_text("".join(f"/v1/recipients/{i}/eligibility\n" for i in ids))
            servers = {
                "certsvc eligibility": service,
                "ceiling: one asyncpg row": ceiling_server,
            }
            for server in servers.values():
                harness.check_get(server, f"/v1/recipients/{ids[0]}/eligibility", key)
                harness.get_load(driver, server, paths, key, args.warmup, args.connections)
            # Alternating slices, so that the other load on a shared machine, which comes and
            # goes, weighs on both endpoints alike; the idle server meanwhile waits on epoll.
            for _ in range(args.rounds):
                for label, server in servers.items():
                    slices.setdefault(label, []).append(
                        harness.get_load(
                            driver, server, paths, key, args.seconds / args.rounds, args.connections
                        )
                    )
                    time.sleep(SETTLE)
    finally:
        asyncio.run(cleanup(client))
    results = {label: harness.combine(parts) for label, parts in slices.items()}

    ceiling = results["ceiling: one asyncpg row"].per_second
    ceiling_per_cpu = results["ceiling: one asyncpg row"].items_per_cpu_second
    print(
        f"\npoint eligibility, {len(ids):,} random recipients, {args.connections} connections, "
        f"{args.seconds:g} s each in {args.rounds} alternating slices after {args.warmup:g} s "
        f"warm-up; driver {driver}; {harness.accelerators()}"
    )
    harness.print_table(
        [
            "endpoint",
            "req/s",
            "slices req/s",
            "p50 ms",
            "p99 ms",
            "non-2xx",
            "vs ceiling",
            "per server CPU-s",
            "vs ceiling (CPU)",
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
                harness.ratio(r.per_second, ceiling),
                f"{r.items_per_cpu_second:,.0f}",
                harness.ratio(r.items_per_cpu_second, ceiling_per_cpu),
                *r.usage(),
            )
            for label, r in results.items()
        ],
    )


if __name__ == "__main__":
    main()
