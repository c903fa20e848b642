"""Mixed load (issue 8): reads and writes against one `certsvc serve` at the same time, then a
check that every certification the driver saw acknowledged is in the database.

    python -m bench.load_mixed [--seconds 60] [--connections 32] [--port 8820]
        [--warmup 3] [--batch-size 50] [--recipients 50000]

Needs CERTSVC_DATABASE_URL (PostgreSQL) and CERTSVC_DATA_DIR of the benchmark database built
by bench.province. Draws ``--recipients`` random generated recipients without a stop report
(those certify; `harness.sample_recipient_ids`), creates a mobile API
client (`certsvc clients create --role mobile`; it reads eligibility, and posts face checks
singly and in batches), starts `certsvc serve` and drives it from a separate process
(``python -m bench.load_mixed drive``, built on bench.loadgen's raw HTTP/1.1 pieces): each of
``--connections`` keep-alive connections picks every request at random, 80 % GET
/v1/recipients/{id}/eligibility, 15 % POST /v1/certifications (one passed face check,
occurred_at = now, unique source_ref `bench-mixed-<run>-…`), 5 % POST
/v1/certifications/batch (``--batch-size`` such items), until ``--seconds`` have passed; the
requests in flight then finish, and any still unanswered ``--grace`` seconds later are
abandoned and counted as timeouts.

Reports requests/s and certifications/s, p50/p99 per kind, answers by status per kind
(0 = connection error, -1 = abandoned). Then counts the run's rows in `certifications` and
compares them with the source_refs the driver saw acknowledged (201/200): an acknowledged
source_ref missing from the table is a lost write. Finally deletes the run's certifications,
their outbox events, webhook deliveries and verification cases, and the client (revoked
instead when the audit log refers to it); the audit_log rows stay, as PostgreSQL's
append-only trigger forbids deleting them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from bench import harness, ingest, loadgen

KINDS = ("eligibility", "single", "batch")
WEIGHTS = (80, 15, 5)
PREFIX = "bench-mixed-"


# --- the driver (its own process) -----------------------------------------------------------


class Mixed(loadgen.Workload):
    """bench.loadgen's workload, choosing the kind of every request at random."""

    def __init__(self, args: argparse.Namespace, key: str, connection: int) -> None:
        super().__init__(args, key, connection)
        self.pending: list[str] = []

    def next_mixed(self) -> tuple[str, bytes]:
        kind = self.rng.choices(KINDS, WEIGHTS)[0]
        port = self.args.port
        if kind == "eligibility":
            path = f"/v1/recipients/{self.rng.choice(self.recipients)}/eligibility"
            self.pending = []
            return kind, loadgen.request_bytes("GET", path, port, self.key)
        if kind == "single":
            item = self.certification()
            self.pending = [str(item["source_ref"])]
            body = orjson.dumps(item)
            return kind, loadgen.request_bytes("POST", "/v1/certifications", port, self.key, body)
        items = [self.certification() for _ in range(self.args.batch_size)]
        self.pending = [str(item["source_ref"]) for item in items]
        body = orjson.dumps({"items": items})
        return kind, loadgen.request_bytes("POST", "/v1/certifications/batch", port, self.key, body)


class Tally:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.statuses: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
        self.item_statuses: Counter[int] = Counter()
        self.acked: list[str] = []
        self.last_done = 0.0


def acknowledge(kind: str, status: int, body: bytes, work: Mixed, tally: Tally) -> None:
    if kind == "single" and status in (200, 201):
        tally.acked.extend(work.pending)
    elif kind == "batch" and 200 <= status < 300:
        results = orjson.loads(body)["results"]
        for ref, result in zip(work.pending, results, strict=False):
            tally.item_statuses[result["status"]] += 1
            if result["status"] in (200, 201):
                tally.acked.append(ref)


async def connection_loop(
    args: argparse.Namespace, work: Mixed, deadline: float, tally: Tally
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    kind = ""
    try:
        for _ in range(10_000_000):  # bounded; the deadline ends it long before
            if time.monotonic() >= deadline:
                break
            kind, data = work.next_mixed()
            started = time.perf_counter()
            try:
                writer.write(data)
                status, body = await loadgen.read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                tally.statuses[kind][0] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
                continue
            tally.latencies[kind].append(time.perf_counter() - started)
            tally.statuses[kind][status] += 1
            acknowledge(kind, status, body, work, tally)
            kind = ""
            tally.last_done = time.monotonic()
    except asyncio.CancelledError:
        if kind:
            tally.statuses[kind][-1] += 1  # abandoned by the watchdog
        raise
    finally:
        writer.close()


async def drive(args: argparse.Namespace) -> tuple[dict[str, object], list[str]]:
    key = os.environ.get("BENCH_API_KEY", "")
    tally = Tally()
    works = [Mixed(args, key, number) for number in range(args.connections)]
    cpu_before = time.process_time()
    started = time.monotonic()
    deadline = started + args.duration
    tasks = [asyncio.ensure_future(connection_loop(args, w, deadline, tally)) for w in works]
    _, late = await asyncio.wait(tasks, timeout=args.duration + args.grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    kinds = {}
    for kind in KINDS:
        ordered = sorted(tally.latencies[kind])
        kinds[kind] = {
            "requests": sum(tally.statuses[kind].values()),
            "p50_ms": round(1000 * loadgen.percentile(ordered, 0.50), 3),
            "p99_ms": round(1000 * loadgen.percentile(ordered, 0.99), 3),
            "statuses": {str(k): v for k, v in sorted(tally.statuses[kind].items())},
        }
    every = sorted(x for kind in KINDS for x in tally.latencies[kind])
    statuses = sum(tally.statuses.values(), Counter())
    summary = {
        "driver": "python",
        "requests": sum(statuses.values()),
        "ok": sum(n for status, n in statuses.items() if 200 <= status < 300),
        "seconds": round(max(tally.last_done, started + 1e-9) - started, 6),
        "p50_ms": round(1000 * loadgen.percentile(every, 0.50), 3),
        "p99_ms": round(1000 * loadgen.percentile(every, 0.99), 3),
        "items": len(tally.acked),
        "cpu_s": round(time.process_time() - cpu_before, 3),
        "kinds": kinds,
        "item_statuses": {str(k): v for k, v in sorted(tally.item_statuses.items())},
    }
    return summary, tally.acked


def drive_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load_mixed drive")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--grace", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--recipients", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--acked", required=True, help="file for the acknowledged source_refs")
    args = parser.parse_args(argv)
    if not args.prefix.startswith(PREFIX):
        parser.error(f"--prefix must start with {PREFIX}")
    args.mode = "mixed"  # loadgen.Workload then reads --recipients
    result, acked = loadgen.event_loop_runner()(drive(args))
    Path(args.acked).write_text("".join(ref + "\n" for ref in acked))
    print(orjson.dumps(result).decode(), flush=True)


# --- the run --------------------------------------------------------------------------------


def mixed_load(
    server: harness.Server,
    key: str,
    args: argparse.Namespace,
    seconds: float,
    recipients: Path,
    prefix: str,
    acked: Path,
) -> harness.LoadResult:
    argv = [
        sys.executable,
        "-m",
        "bench.load_mixed",
        "drive",
        "--port",
        str(server.port),
        "--duration",
        f"{seconds:g}",
        "--grace",
        f"{args.grace:g}",
        "--connections",
        str(args.connections),
        "--recipients",
        str(recipients),
        "--prefix",
        prefix,
        "--batch-size",
        str(args.batch_size),
        "--acked",
        str(acked),
    ]
    return harness.run_python_driver(argv, server, key, timeout=seconds + args.grace + 60)


async def prepare(count: int) -> tuple[list[str], str]:
    connection = await harness.connect()
    try:
        ids = await harness.sample_recipient_ids(connection, count, certifying=True)
        return ids, await harness.durability(connection)
    finally:
        await connection.close()


async def stored_refs(client: str, prefix: str) -> set[str]:
    connection = await harness.connect()
    try:
        rows = await connection.fetch(
            "SELECT c.source_ref FROM certifications c JOIN api_clients a ON a.id = c.client_id "
            "WHERE a.name = $1 AND c.source_ref LIKE $2",
            client,
            prefix + "%",
        )
        return {row["source_ref"] for row in rows}
    finally:
        await connection.close()


def main() -> None:
    if sys.argv[1:2] == ["drive"]:
        drive_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--grace", type=float, default=30.0, help="watchdog after the load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=8820)
    args = parser.parse_args()
    if not 8820 <= args.port <= 8829:
        parser.error("--port must be within 8820–8829")
    harness.database_url()
    # One mobile client stands for a province's worth of apps: its per-client rate limit
    # (500/s by default) would turn the test into a 429 count, so it is lifted unless set.
    os.environ.setdefault("CERTSVC_RATE_LIMITS", '{"mobile": 0}')
    token = harness.run_token()
    client, prefix = f"bench-mixed-{token}", f"{PREFIX}{token}-"
    harness.log(f"drawing {args.recipients:,} recipients")
    ids, durable = asyncio.run(prepare(args.recipients))
    harness.log(f"creating client {client}")
    key = harness.create_client(client, "mobile")
    removed: dict[str, int] = {}
    acked: set[str] = set()
    try:
        with (
            harness.scratch_dir("bench-mixed-") as folder,
            harness.certsvc_server(args.port) as server,
        ):
            recipients = folder / "recipients.txt"
            recipients.write_text("\n".join(ids) + "\n")
            harness.check_get(server, f"/v1/recipients/{ids[0]}/eligibility", key)
            if args.warmup > 0:
                mixed_load(
                    server, key, args, args.warmup, recipients, prefix + "w", folder / "w.txt"
                )
                acked.update((folder / "w.txt").read_text().split())
            result = mixed_load(
                server, key, args, args.seconds, recipients, prefix + "m", folder / "m.txt"
            )
            acked.update((folder / "m.txt").read_text().split())
        harness.log("counting stored certifications")
        stored = asyncio.run(stored_refs(client, prefix))
    finally:
        harness.log("cleaning up")
        removed = asyncio.run(ingest.cleanup(client))
    lost = acked - stored

    data = result.detail
    seconds = max(result.seconds, 1e-9)
    print(
        f"\nmixed load, {args.connections} connections, {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up, 80/15/5 % eligibility/single/batch ({args.batch_size} "
        f"items), {len(ids):,} random recipients; driver python (bench.load_mixed drive); "
        f"{harness.accelerators()}; {harness.machine_speed()}; {durable}"
    )
    rows = []
    for kind in KINDS:
        k = data["kinds"][kind]
        ok = sum(n for s, n in k["statuses"].items() if 200 <= int(s) < 300)
        errors = {s: n for s, n in k["statuses"].items() if not 200 <= int(s) < 300}
        rows.append(
            (
                kind,
                f"{k['requests']:,}",
                f"{ok / seconds:,.1f}",
                f"{k['p50_ms']:,.1f}",
                f"{k['p99_ms']:,.1f}",
                ", ".join(f"{s}: {n}" for s, n in errors.items()) or "none",
            )
        )
    rows.append(
        (
            "all",
            f"{result.requests:,}",
            f"{result.per_second:,.1f}",
            f"{result.p50_ms:,.1f}",
            f"{result.p99_ms:,.1f}",
            f"{result.requests - result.ok} non-2xx",
        )
    )
    harness.print_table(["kind", "requests", "2xx/s", "p50 ms", "p99 ms", "errors"], rows)
    print(
        f"\ncertifications acknowledged in the measured window: {result.items:,} "
        f"({result.items / seconds:,.1f}/s); batch item statuses {data['item_statuses']}"
    )
    usage = zip(harness.USAGE_HEADERS, result.usage(), strict=True)
    print("usage: " + ", ".join(f"{name} {value}" for name, value in usage))
    print(
        f"acknowledged (warm-up + measured) {len(acked):,}, stored {len(stored):,}, "
        f"lost writes {len(lost)}" + (f" e.g. {sorted(lost)[:5]}" if lost else "")
    )
    print(
        "cleaned up: "
        + ", ".join(f"{n} {what}" for what, n in removed.items())
        + "; audit_log rows left (append-only on PostgreSQL)"
    )
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    random.seed(1)
    main()
