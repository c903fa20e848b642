"""The ceilings for a point read, and what the load drivers can drive.

    python -m bench.ceiling [--seconds 10] [--connections 32] [--driver auto|wrk|python]
    python -m bench.ceiling serve --port 8811   # just the bare one (bench.point_eligibility)

Two ceilings read one recipient by primary key (``SELECT id, id_masked, birth_date, residence,
emergency_contacts FROM recipients WHERE id = $1``) through the service's own asyncpg read pool
(app/db/read_pool.py: as many connections as CERTSVC_DB_POOL_SIZE, no reset round trip) and
answer it as JSON with orjson:

- in the same server setup (the issue's reference): ``GET /bench/ceiling/{id}`` of `certsvc
  serve` itself, with CERTSVC_BENCH_CEILING set: the same create_app, middleware stack and
  uvicorn settings as every endpoint (app/routers/ceiling.py);
- a bare ASGI app below (`serve`): no framework, no routing table, no validation, no
  middleware; any path holding a UUID segment (so the very paths of the eligibility benchmark)
  answers that recipient's row. What is left is uvicorn, the event loop, the pool round trip
  and orjson. ``/ping`` answers without the database, ``/ready`` once the pool is open.

Run alone, it measures both row endpoints against the HTTP-only figures of the same servers
(the app's ``/healthz``, the bare app's ``/ping``) and, when wrk is installed, the bare row
endpoint once more with the Python driver, to show which driver can saturate the server.
Needs CERTSVC_DATABASE_URL (PostgreSQL, the bench DB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from app.db.ceiling import ROW_QUERY
from app.db.read_pool import ReadPool, create_read_pool
from app.settings import Settings, get_settings
from bench import harness

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


class CeilingApp:
    """Raw ASGI: lifespan opens and closes the read pool; http does one fetchrow."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: ReadPool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            status, body = await self.answer(scope["path"])
            await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
            await send({"type": "http.response.body", "body": body})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The very pool the service reads eligibility through.
                self.pool = await create_read_pool(self.settings)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def answer(self, path: str) -> tuple[int, bytes]:
        if path in ("/ping", "/ready"):
            return 200, b'{"ok":true}'
        for part in path.split("/"):
            if len(part) == 36:
                try:
                    recipient_id = uuid.UUID(part)
                except ValueError:
                    break
                assert self.pool is not None
                row = await self.pool.fetchrow(ROW_QUERY, recipient_id)
                if row is None:
                    return 404, b'{"code":"not_found"}'
                return 200, orjson.dumps(dict(row), default=str)
        return 404, b'{"code":"not_found"}'


def serve(port: int) -> None:
    import uvicorn

    app = CeilingApp(get_settings())
    # The keyword arguments of app.cli.server._serve, so that loop and HTTP parser ("auto":
    # uvloop and httptools when installed) and the per-request work of uvicorn itself are the
    # same.
    uvicorn.run(
        app,
        host=harness.LOOPBACK,
        port=port,
        workers=1,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        log_level="warning",
    )


def measure(args: argparse.Namespace) -> None:
    driver = harness.choose_driver(args.driver)

    async def sample() -> list[str]:
        connection = await harness.connect()
        try:
            return await harness.sample_recipient_ids(connection, args.recipients)
        finally:
            await connection.close()

    ids = asyncio.run(sample())
    os.environ["CERTSVC_BENCH_CEILING"] = "1"  # for the certsvc server started below
    with harness.scratch_dir("bench-ceiling-") as folder:
        raw_rows = folder / "raw-rows.txt"
        raw_rows.write_text("".join(f"/v1/recipients/{i}/eligibility\n" for i in ids))
        app_rows = folder / "app-rows.txt"
        app_rows.write_text("".join(f"/bench/ceiling/{i}\n" for i in ids))
        ping = folder / "ping.txt"
        ping.write_text("/ping\n")
        healthz = folder / "healthz.txt"
        healthz.write_text("/healthz\n")
        runs: list[tuple[str, harness.LoadResult]] = []
        with (
            harness.ceiling_server(args.port) as raw,
            harness.certsvc_server(args.app_port) as service,
        ):
            harness.check_get(raw, "/v1/recipients/" + ids[0], "none")
            harness.check_get(service, f"/bench/ceiling/{ids[0]}", "none")
            plan = [
                ("same app: one asyncpg row", service, app_rows, driver),
                ("same app: /healthz, no database", service, healthz, driver),
                ("raw ASGI: one asyncpg row", raw, raw_rows, driver),
                ("raw ASGI: /ping, no database", raw, ping, driver),
            ]
            if driver == "wrk":
                plan.append(("raw ASGI: one asyncpg row", raw, raw_rows, "python"))
            for label, server, paths, which in plan:
                harness.get_load(which, server, paths, "none", args.warmup, args.connections)
                result = harness.get_load(
                    which, server, paths, "none", args.seconds, args.connections
                )
                runs.append((label, result))
    print(
        f"\nceiling servers: {harness.accelerators()}; {harness.machine_speed()}; "
        f"{args.connections} connections"
    )
    baseline = runs[3][1].per_second
    harness.print_table(
        [
            "endpoint",
            "driver",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server CPU µs/req",
            "vs raw /ping",
            *harness.USAGE_HEADERS,
        ],
        [
            (
                label,
                r.driver,
                f"{r.per_second:,.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{1e6 * r.server_cpu / max(r.items, 1):,.0f}",
                harness.ratio(r.per_second, baseline),
                *r.usage(),
            )
            for label, r in runs
        ],
    )
    failed = sum(r.requests - r.ok for _, r in runs)
    if failed:
        print(f"warning: {failed} requests were not answered 2xx")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", nargs="?", choices=["measure", "serve"], default="measure")
    parser.add_argument("--port", type=int, default=8811, help="the bare ASGI ceiling")
    parser.add_argument("--app-port", type=int, default=8816, help="certsvc with the ceiling")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    harness.database_url()
    if args.action == "serve":
        serve(args.port)
    else:
        measure(args)


if __name__ == "__main__":
    main()
