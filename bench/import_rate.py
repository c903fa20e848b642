"""The legacy import rate: `certsvc import-certifications` on a generated CSV, against a raw
COPY of the same file into an unlogged scratch table.

    python -m bench.import_rate [--rows 200000 | --full] [--recipients 1000000]

Needs CERTSVC_DATABASE_URL (PostgreSQL) and CERTSVC_DATA_DIR of the benchmark database built
by bench.province. Writes ``--rows`` rows (``--full``: 1,000,000) with bench.legacy_csv's
writer: passed face checks spread over the generated recipients (stride 7919 through
``--recipients``), each with a fresh source_ref `bench-import-<run>-<n>`. Runs the real
command as a subprocess, crediting a system client of its own (`--client
bench-import-<run>`), and reads the command's peak RSS from the kernel when it exits. The
baseline is `COPY scratch FROM the file (FORMAT csv, HEADER)` into an UNLOGGED table of six
text columns: reading and storing the bytes, nothing else.

At the end the run's certifications, the client, the scratch table and the files are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time

from bench import harness
from bench.legacy_csv import write_history

STRIDE = 7919  # prime: row n names recipient n × 7919 mod N, all over the province


def run_import(path: os.PathLike[str], client: str, rejects: os.PathLike[str]) -> tuple:
    """The command, timed; its output, and its peak RSS (KiB) and CPU seconds from wait4."""
    argv = [
        *harness.certsvc_command(),
        "import-certifications",
        str(path),
        "--client",
        client,
        "--rejects",
        str(rejects),
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=harness.ROOT,
        env=harness.service_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the progress line
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"certsvc import-certifications failed:\n{output}")
    return elapsed, output.strip(), usage.ru_maxrss, usage.ru_utime + usage.ru_stime


async def copy_baseline(path: os.PathLike[str], table: str) -> tuple[float, int]:
    connection = await harness.connect()
    try:
        await connection.execute(
            f"CREATE UNLOGGED TABLE {table} (id_number text, channel text, result text,"
            " occurred_at text, source_ref text, details text)"
        )
        started = time.monotonic()
        await connection.copy_to_table(table, source=path, format="csv", header=True)
        elapsed = time.monotonic() - started
        return elapsed, await connection.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()


async def loaded_rows(client: str) -> int:
    connection = await harness.connect()
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM certifications c JOIN api_clients a ON a.id = c.client_id"
            " WHERE a.name = $1",
            client,
        )
    finally:
        await connection.close()


async def cleanup(client: str) -> int:
    connection = await harness.connect()
    try:
        status = await connection.execute(
            "DELETE FROM certifications WHERE client_id = (SELECT id FROM api_clients"
            " WHERE name = $1) AND source_ref LIKE 'bench-import-%'",
            client,
        )
        await harness.drop_client(connection, client)
        return int(status.split()[-1])
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 rows")
    parser.add_argument("--recipients", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = 1_000_000 if args.full else args.rows
    if args.recipients % STRIDE == 0:
        parser.error(f"--recipients must not be a multiple of {STRIDE}")
    harness.database_url()
    token = harness.run_token()
    client, table = f"bench-import-{token}", f"bench_import_scratch_{token}"
    removed = 0
    with harness.scratch_dir("bench-import-") as folder:
        source = folder / "history.csv"
        started = time.monotonic()
        write_history(
            source,
            rows,
            args.recipients,
            source_prefix=f"bench-import-{token}-",
            stride=STRIDE,
        )
        written = time.monotonic() - started
        size = source.stat().st_size
        print(f"wrote {rows:,} rows ({size / 1e6:,.0f} MB) in {written:.1f} s", flush=True)
        try:
            elapsed, output, peak_kib, cpu = run_import(source, client, folder / "rejected.csv")
            print(output, flush=True)
            loaded = asyncio.run(loaded_rows(client))
            copy_s, copied = asyncio.run(copy_baseline(source, table))
        finally:
            removed = asyncio.run(cleanup(client))

    rate, baseline = rows / elapsed, copied / copy_s
    print(f"\nlegacy import of {rows:,} rows into the bench database; {loaded:,} rows loaded")
    harness.print_table(
        ["what", "rows", "seconds", "rows/s", "peak RSS", "CPU", "vs COPY"],
        [
            (
                "certsvc import-certifications",
                f"{rows:,}",
                f"{elapsed:,.1f}",
                f"{rate:,.0f}",
                f"{peak_kib / 1024:,.0f} MiB",
                f"{cpu:,.1f} s ({cpu / elapsed:.0%} of one core)",
                harness.ratio(rate, baseline),
            ),
            (
                "baseline: COPY into an unlogged text table",
                f"{copied:,}",
                f"{copy_s:,.2f}",
                f"{baseline:,.0f}",
                "—",
                "(in PostgreSQL)",
                "100.0%",
            ),
        ],
    )
    print(f"cleaned up: {removed:,} certifications, the client, the scratch table, the files")


if __name__ == "__main__":
    main()
