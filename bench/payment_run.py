"""A payment run over the whole generated province: seconds to create it and to stream all its
items, and the server's peak memory, against COPY of the same columns.

    python -m bench.payment_run [--agency 14] [--month YYYY-MM] [--port 8815]
        [--timeout 900] [--keep-run]

Needs CERTSVC_DATABASE_URL (PostgreSQL) and CERTSVC_DATA_DIR of the benchmark database built
by bench.province (1,000,000 recipients, about 1.19 million benefits in province 14). Creates a
payment client, starts `certsvc serve` and a `certsvc worker` (CERTSVC_RUN_COMPUTE=worker, as
an agency deploys it), POSTs /v1/payment-runs {"month", "agency_code",
"new": true} (month: default next month, so that no run another process is using for this
month is touched), polls GET /v1/payment-runs/{id} every 0.5 s until completed (at most
``--timeout`` seconds), then streams GET …/items (NDJSON) counting bytes and lines and
checking the SHA-256 against the run's digest. The run worker's resident memory is sampled
from /proc every 0.5 s, alone and summed with its child processes (on PostgreSQL a big run is
decided by decision processes the worker starts), and its peak (VmHWM) read before it stops;
"server CPU" is the API's and the run worker's, "workers' CPU" the decision processes'.

Baselines, over asyncpg COPY … TO STDOUT into a sink that counts bytes:
- output: `COPY (SELECT <the item columns> FROM payment_run_items WHERE run_id = $1 ORDER BY
  seq) TO STDOUT`, the same rows the items endpoint serves;
- input: `COPY (SELECT <benefit columns>, <recipient columns>, <certification columns>,
  <stop report columns>, <case columns> FROM benefits JOIN recipients LEFT JOIN
  certifications (counted) LEFT JOIN stop_reports LEFT JOIN verification_cases WHERE
  agency_code LIKE '14%') TO STDOUT`, the rows the engine has to read to decide the run.

At the end the run (with its items) and the client are deleted unless --keep-run, and the
run tables vacuumed. Targets
(reported, not asserted): 1M benefits in at most 60 s, server peak RSS under 400 MB (workers
included), at most 10× the COPY baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import httpx

from app.db.runs.rows import ITEM_FIELDS
from bench import harness

INPUT_QUERY = """
SELECT b.id, b.recipient_id, b.benefit_type, b.agency_code, b.start_date, b.approved,
       b.external_ref, b.funeral_subsidy_area, r.birth_date, r.residence,
       r.emergency_contacts, c.id, c.channel, c.occurred_at, c.recorded_at, c.revoked_at,
       s.id, s.benefit_id, s.reason, s.occurred_on, s.suspected, s.recorded_at,
       v.id, v.stop_report_id, v.outcome, v.effective_on, v.resolved_at
FROM benefits b
JOIN recipients r ON r.id = b.recipient_id
LEFT JOIN certifications c ON c.recipient_id = b.recipient_id AND c.counted
LEFT JOIN stop_reports s ON s.recipient_id = b.recipient_id
LEFT JOIN verification_cases v ON v.recipient_id = b.recipient_id
WHERE b.agency_code LIKE $1 || '%'
"""


class TreeSampler(harness.RssSampler):
    """Samples the server and its child processes (the run's workers): ``peaks`` is the
    server's resident set by phase, ``tree_peaks`` the sum over the server and its children,
    ``worker_peak`` the largest single child."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(pid, interval)
        self.tree_peaks: dict[str, int] = {}
        self.worker_peak = 0
        self.workers_seen: set[int] = set()

    def __enter__(self) -> TreeSampler:
        super().__enter__()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = harness.memory_kib(self.pid)["VmRSS"]
            except (FileNotFoundError, KeyError, ProcessLookupError):
                return
            total = rss
            for child in children(self.pid):
                try:
                    child_rss = harness.memory_kib(child)["VmRSS"]
                except (FileNotFoundError, KeyError, ProcessLookupError):
                    continue
                self.workers_seen.add(child)
                self.worker_peak = max(self.worker_peak, child_rss)
                total += child_rss
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            self.tree_peaks[self.phase] = max(self.tree_peaks.get(self.phase, 0), total)
            self._stop.wait(self.interval)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def children_cpu_seconds(pid: int) -> float:
    """User plus system CPU of the children a process has waited for (its run workers)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / harness.CLOCK_TICKS


def next_month() -> str:
    today = date.today()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


class Sink:
    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    async def __call__(self, data: bytes) -> None:
        self.bytes += len(data)
        self.lines += data.count(b"\n")


async def copy_baseline(query: str, *args: object) -> tuple[float, Sink]:
    """Seconds for `COPY (query) TO STDOUT` (text format) into a counting sink."""
    connection = await harness.connect()
    sink = Sink()
    try:
        started = time.monotonic()
        await connection.copy_from_query(query, *args, output=sink)
        return time.monotonic() - started, sink
    finally:
        await connection.close()


async def run_and_stream(
    server: harness.Server, key: str, args: argparse.Namespace, sampler: TreeSampler
) -> dict[str, object]:
    figures: dict[str, object] = {}
    headers = {"Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(60.0, read=120.0)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=timeout) as http:
        sampler.phase = "compute"
        started = time.monotonic()
        answer = await http.post(
            "/v1/payment-runs", json={"month": args.month, "agency_code": args.agency, "new": True}
        )
        if answer.status_code != 201:
            raise SystemExit(f"POST /v1/payment-runs: {answer.status_code} {answer.text[:500]}")
        run = answer.json()
        figures["run_id"] = run["run_id"]
        shown = started
        polls: list[float] = []
        while run["status"] not in ("completed", "failed"):
            if time.monotonic() - started > args.timeout:
                figures["timed_out"] = True
                figures["items_so_far"] = run["items"]
                figures["compute_s"] = time.monotonic() - started
                return figures
            await asyncio.sleep(0.5)
            asked = time.monotonic()
            run = (await http.get(f"/v1/payment-runs/{run['run_id']}")).json()
            # How the API answers while the run computes: the polls are requests like any.
            polls.append(time.monotonic() - asked)
            if time.monotonic() - shown > 15:
                shown = time.monotonic()
                elapsed = shown - started
                print(f"  {elapsed:5.0f} s: {run['status']}, {run['items']:,} items", flush=True)
        figures["compute_s"] = time.monotonic() - started
        figures["run"] = run
        figures["polls"] = sorted(polls)
        if run["status"] == "failed":
            raise SystemExit(f"the run failed: {run}")
        sampler.phase = "stream"
        digest, size, lines = hashlib.sha256(), 0, 0
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        async with http.stream("GET", f"/v1/payment-runs/{run['run_id']}/items") as body:
            if body.status_code != 200:
                raise SystemExit(f"GET items: {body.status_code}")
            async for chunk in body.aiter_raw():
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
        figures["stream_s"] = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        figures["client_cpu_s"] = (cpu_after.ru_utime + cpu_after.ru_stime) - (
            cpu_before.ru_utime + cpu_before.ru_stime
        )
        figures["bytes"], figures["lines"] = size, lines
        figures["digest_ok"] = digest.hexdigest() == run["digest"]
    return figures


async def cleanup(run_id: object, client: str, keep: bool) -> None:
    connection = await harness.connect()
    try:
        if run_id is not None and not keep:
            await connection.execute("DELETE FROM payment_runs WHERE id = $1::uuid", str(run_id))
            # A deleted run leaves a million dead item rows; the next run would insert into
            # the bloated table and index at nearly twice the cost. Measure from clean tables.
            await connection.execute("VACUUM payment_run_items, payment_run_pages")
        if keep:
            await connection.execute(
                "UPDATE api_clients SET revoked_at = now() WHERE name = $1", client
            )
        else:
            await harness.drop_client(connection, client)
    finally:
        await connection.close()


async def scope_size(agency: str) -> int:
    connection = await harness.connect()
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM benefits WHERE agency_code LIKE $1 || '%'", agency
        )
    finally:
        await connection.close()


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agency", default="14")
    parser.add_argument("--month", default=next_month())
    parser.add_argument("--port", type=int, default=8815)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for it")
    parser.add_argument("--keep-run", action="store_true", help="leave the run in the database")
    args = parser.parse_args()
    if not args.agency.isdigit():
        parser.error("--agency is a division-code prefix such as 14 or 1404")
    harness.database_url()
    benefits = asyncio.run(scope_size(args.agency))
    client = f"bench-payment-{harness.run_token()}"
    key = harness.create_client(client, "payment")
    figures: dict[str, object] = {}
    print(f"payment run {args.month} for agency {args.agency}: {benefits:,} benefits in scope")
    try:
        # As an agency deploys it (docs/deploy.md "Run workers"): the API only records the run,
        # a `certsvc worker` computes it and spreads it over its decision processes.
        compute = {"CERTSVC_RUN_COMPUTE": "worker"}
        with (
            harness.certsvc_server(args.port, env=compute) as server,
            harness.certsvc_worker(**compute) as worker,
        ):
            idle = harness.memory_kib(worker.pid)["VmRSS"]
            cpu_before = harness.cpu_seconds(worker.pid) + harness.cpu_seconds(server.pid)
            workers_before = children_cpu_seconds(worker.pid)
            with TreeSampler(worker.pid) as sampler:
                figures = asyncio.run(run_and_stream(server, key, args, sampler))
            figures["server_cpu_s"] = (
                harness.cpu_seconds(worker.pid) + harness.cpu_seconds(server.pid) - cpu_before
            )
            figures["workers_cpu_s"] = children_cpu_seconds(worker.pid) - workers_before
            peak = harness.memory_kib(worker.pid)["VmHWM"]
            peaks = dict(sampler.peaks)
            tree_peaks = dict(sampler.tree_peaks)
            worker_peak, workers_seen = sampler.worker_peak, len(sampler.workers_seen)
        if figures.get("timed_out"):
            print(
                f"\nNOT COMPLETED: after {figures['compute_s']:.0f} s the run had "
                f"{figures['items_so_far']:,} of {benefits:,} items; server peak RSS {mib(peak)}"
            )
            return
        run = figures["run"]
        assert isinstance(run, dict)
        print(
            f"measured: create → completed {figures['compute_s']:.1f} s, stream "
            f"{figures['stream_s']:.1f} s, VmHWM {mib(peak)}, samples {peaks}, "
            f"with workers {tree_peaks}",
            flush=True,
        )
        harness.log("baselines: COPY of the items, then of the input rows")
        columns = ", ".join(ITEM_FIELDS)
        items_s, items_sink = asyncio.run(
            copy_baseline(
                f"SELECT {columns} FROM payment_run_items WHERE run_id = $1 ORDER BY seq",
                uuid.UUID(run["run_id"]),
            )
        )
        input_s, input_sink = asyncio.run(copy_baseline(INPUT_QUERY, args.agency))
    finally:
        asyncio.run(cleanup(figures.get("run_id"), client, args.keep_run))

    compute_s, stream_s = float(figures["compute_s"]), float(figures["stream_s"])
    total = compute_s + stream_s
    polls = list(figures.get("polls", []))  # type: ignore[call-overload]
    server_cpu = float(figures["server_cpu_s"])
    workers_cpu = float(figures["workers_cpu_s"])
    # The run's own timestamps: creation to completion without the polling granularity.
    server_s = (
        datetime.fromisoformat(run["completed_at"]) - datetime.fromisoformat(run["created_at"])
    ).total_seconds()
    print(
        f"\npayment run {args.month}/{args.agency}: {run['items']:,} items "
        f"(payable {run['counts']['payable']:,}, withheld {run['counts']['withheld']:,}, "
        f"stopped {run['counts']['stopped']:,}); streamed {figures['lines']:,} lines, "
        f"{int(figures['bytes']) / 1e6:,.0f} MB, digest matches: {figures['digest_ok']}; "
        f"{harness.accelerators()}; {harness.machine_speed()}"
    )
    harness.print_table(
        ["step", "seconds", "rows/s", "baseline", "baseline s", "vs baseline"],
        [
            (
                "create → completed (poll 0.5 s)",
                f"{compute_s:,.1f}",
                f"{run['items'] / compute_s:,.0f}",
                f"COPY input query ({input_sink.lines:,} rows, {input_sink.bytes / 1e6:,.0f} MB)",
                f"{input_s:,.1f}",
                harness.times(compute_s, input_s),
            ),
            (
                "the same, by the run's created_at → completed_at",
                f"{server_s:,.1f}",
                f"{run['items'] / server_s:,.0f}",
                "",
                "",
                harness.times(server_s, input_s),
            ),
            (
                "stream items (NDJSON)",
                f"{stream_s:,.1f}",
                f"{int(figures['lines']) / stream_s:,.0f}",
                f"COPY items ({items_sink.lines:,} rows, {items_sink.bytes / 1e6:,.0f} MB)",
                f"{items_s:,.1f}",
                harness.times(stream_s, items_s),
            ),
            (
                "total",
                f"{total:,.1f}",
                f"{run['items'] / total:,.0f}",
                "both COPYs",
                f"{input_s + items_s:,.1f}",
                harness.times(total, input_s + items_s),
            ),
        ],
    )
    print()
    harness.print_table(
        ["server memory", "value"],
        [
            ("RSS idle, before the run", mib(idle)),
            ("peak RSS sampled while computing", mib(peaks.get("compute", 0))),
            ("peak RSS sampled while streaming", mib(peaks.get("stream", 0))),
            ("VmHWM (kernel peak, whole process life)", mib(peak)),
            ("run workers seen (child processes)", f"{workers_seen}"),
            ("peak RSS of one worker (sampled)", mib(worker_peak)),
            ("peak RSS, server + workers (sampled sum)", mib(max(tree_peaks.values(), default=0))),
            (
                "server CPU, create to end of stream",
                f"{server_cpu:,.1f} s ({server_cpu / total:.0%} of one core)",
            ),
            (
                "workers' CPU (children of the server)",
                f"{workers_cpu:,.1f} s ({workers_cpu / total:.0%} of one core)",
            ),
            (
                "server + workers CPU per item",
                f"{(server_cpu + workers_cpu) / run['items'] * 1e6:,.1f} µs",
            ),
            ("client CPU while streaming", f"{figures['client_cpu_s']:,.1f} s"),
            (
                f"GET run status while computing ({len(polls)} polls): median / max",
                f"{polls[len(polls) // 2] * 1000:,.0f} / {polls[-1] * 1000:,.0f} ms"
                if polls
                else "-",
            ),
        ],
    )


if __name__ == "__main__":
    main()
