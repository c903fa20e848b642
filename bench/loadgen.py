"""A small HTTP/1.1 load driver, run as its own process by the benchmarks.

    BENCH_API_KEY=… python -m bench.loadgen --port 8812 --mode get --paths paths.txt \\
        --duration 20 --connections 32
    BENCH_API_KEY=… python -m bench.loadgen --port 8814 --mode single --recipients ids.txt \\
        --prefix bench-x-single- --duration 20 --connections 16
    BENCH_API_KEY=… python -m bench.loadgen --port 8814 --mode batch --batch-size 1000 …

Each of ``--connections`` keep-alive connections sends its next request as soon as the
previous answer is read, until ``--duration`` seconds have passed (the requests in flight then
finish; an overall watchdog bounds the run). Raw asyncio streams on uvloop when installed, no
HTTP client library, so a request costs the driver a few tens of microseconds.

Modes: ``get`` reads the paths listed in ``--paths`` round robin; ``single`` posts one face
certification per request to /v1/certifications; ``batch`` posts ``--batch-size`` of them per
request to /v1/certifications/batch. Certifications name random recipients from
``--recipients`` (one recipient_id a line), have ``occurred_at`` = now and a unique
``source_ref`` starting with ``--prefix``.

Prints one JSON object: requests, ok (2xx), seconds, p50_ms, p99_ms, items (2xx GETs, or
certifications answered 201/200), cpu_s (the driver's own CPU over the load, start-up and
imports excluded), statuses and item_statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.province import face_details

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.item_statuses: Counter[int] = Counter()
        self.items = 0
        self.last_done = 0.0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = CONTENT_LENGTH.search(head)
    if length:
        return status, await reader.readexactly(int(length.group(1)))
    if not CHUNKED.search(head):
        raise ConnectionError("response without a length")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append((await reader.readexactly(size + 2))[:-2])
        if size == 0:
            return status, b"".join(parts)


def request_bytes(method: str, path: str, port: int, key: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Workload:
    """Builds the next request of one connection and counts what its answer accepted."""

    def __init__(self, args: argparse.Namespace, key: str, connection: int) -> None:
        self.args, self.key, self.connection = args, key, connection
        self.rng = random.Random(connection)
        self.sequence = 0
        if args.mode == "get":
            self.paths = Path(args.paths).read_text().split()
            self.sequence = self.rng.randrange(len(self.paths))
        else:
            self.recipients = Path(args.recipients).read_text().split()

    def certification(self) -> dict[str, object]:
        self.sequence += 1
        return {
            "recipient_id": self.rng.choice(self.recipients),
            "channel": "face",
            "result": "passed",
            "occurred_at": datetime.now(UTC).isoformat(),
            "source_ref": f"{self.args.prefix}{self.connection}-{self.sequence}",
            "details": face_details(self.rng),
        }

    def next_request(self) -> bytes:
        port = self.args.port
        if self.args.mode == "get":
            self.sequence = (self.sequence + 1) % len(self.paths)
            return request_bytes("GET", self.paths[self.sequence], port, self.key)
        if self.args.mode == "single":
            body = orjson.dumps(self.certification())
            return request_bytes("POST", "/v1/certifications", port, self.key, body)
        items = [self.certification() for _ in range(self.args.batch_size)]
        body = orjson.dumps({"items": items})
        return request_bytes("POST", "/v1/certifications/batch", port, self.key, body)

    def count(self, status: int, body: bytes, stats: Stats) -> None:
        if not 200 <= status < 300:
            return
        if self.args.mode == "batch":
            for result in orjson.loads(body)["results"]:
                stats.item_statuses[result["status"]] += 1
                stats.items += result["status"] in (200, 201)
        else:
            stats.items += 1


async def connection_loop(
    args: argparse.Namespace, workload: Workload, deadline: float, stats: Stats
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    try:
        while time.monotonic() < deadline:
            data = workload.next_request()
            started = time.perf_counter()
            try:
                writer.write(data)
                status, body = await read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                stats.statuses[0] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.statuses[status] += 1
            workload.count(status, body, stats)
            stats.last_done = time.monotonic()
    finally:
        writer.close()


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def drive(args: argparse.Namespace) -> dict[str, object]:
    key = os.environ.get("BENCH_API_KEY", "")
    stats = Stats()
    workloads = [Workload(args, key, number) for number in range(args.connections)]
    cpu_before = time.process_time()
    started = time.monotonic()
    deadline = started + args.duration
    loops = [connection_loop(args, workload, deadline, stats) for workload in workloads]
    # The watchdog: requests still unanswered this long after the deadline are abandoned.
    async with asyncio.timeout(args.duration + args.grace):
        await asyncio.gather(*loops)
    ordered = sorted(stats.latencies)
    ok = sum(count for status, count in stats.statuses.items() if 200 <= status < 300)
    return {
        "driver": "python",
        "requests": sum(stats.statuses.values()),
        "ok": ok,
        "seconds": round(max(stats.last_done, started + 1e-9) - started, 6),
        "p50_ms": round(1000 * percentile(ordered, 0.50), 3),
        "p99_ms": round(1000 * percentile(ordered, 0.99), 3),
        "items": stats.items,
        "cpu_s": round(time.process_time() - cpu_before, 3),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "item_statuses": {str(k): v for k, v in sorted(stats.item_statuses.items())},
    }


def event_loop_runner() -> Callable[..., object]:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run
    return asyncio.run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["get", "single", "batch"], default="get")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--grace", type=float, default=60.0, help="watchdog after the duration")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--paths", help="get: a file of request paths, one a line")
    parser.add_argument("--recipients", help="single/batch: a file of recipient_ids")
    parser.add_argument("--prefix", default="bench-", help="single/batch: source_ref prefix")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    if (args.mode == "get") != bool(args.paths) or (args.mode != "get") != bool(args.recipients):
        parser.error("--paths goes with --mode get, --recipients with single and batch")
    if not args.prefix.startswith("bench-"):
        parser.error("--prefix must start with bench- (so that the rows can be cleaned up)")
    result = event_loop_runner()(drive(args))
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
