"""The ceiling for a point read: a bare ASGI app, served by uvicorn with the settings
`certsvc serve` uses, whose endpoint reads one recipient by primary key with an asyncpg pool.

    python -m bench.ceiling [--seconds 10] [--connections 32] [--driver auto|wrk|python]
    python -m bench.ceiling serve --port 8811        # just serve it (bench.point_eligibility)

Any path holding a UUID segment (so the very paths of the eligibility benchmark,
``/v1/recipients/{id}/eligibility``) answers that recipient's row as JSON: ``SELECT id,
id_masked, birth_date, residence, emergency_contacts FROM recipients WHERE id = $1``. ``/ping``
answers without touching the database, ``/ready`` once the pool is open. No framework, no
routing table, no validation, no ORM: what is left is uvicorn, the event loop, one asyncpg
round trip and orjson.

Run alone, it measures the row endpoint against ``/ping`` (the HTTP-only ceiling of the same
server) and, when wrk is installed, the row endpoint once more with the Python driver, to show
which driver can saturate the server. Needs CERTSVC_DATABASE_URL (PostgreSQL, the bench DB).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import orjson

from app.settings import get_settings
from bench import harness

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ROW_QUERY = (
    "SELECT id, id_masked, birth_date, residence, emergency_contacts FROM recipients WHERE id = $1"
)
JSON_HEADERS = [(b"content-type", b"application/json")]


class CeilingApp:
    """Raw ASGI: lifespan opens and closes the pool; http does one fetchrow."""

    def __init__(self, dsn: str, pool_size: int) -> None:
        self.dsn, self.pool_size = dsn, pool_size
        self.pool: asyncpg.Pool | None = None

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
                # The same number of connections the service's engine may open.
                self.pool = await asyncpg.create_pool(
                    self.dsn, min_size=self.pool_size, max_size=2 * self.pool_size
                )
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

    settings = get_settings()
    app = CeilingApp(harness.asyncpg_dsn(), settings.db_pool_size)
    # The keyword arguments of app.cli._serve, so that loop and HTTP parser ("auto": uvloop and
    # httptools when installed) and the per-request work of uvicorn itself are the same.
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
    with harness.scratch_dir("bench-ceiling-") as folder:
        rows_file = folder / "paths.txt"
        rows_file.write_text("".join(f"/v1/recipients/{i}/eligibility\n" for i in ids))
        ping_file = folder / "ping.txt"
        ping_file.write_text("/ping\n")
        runs: list[tuple[str, harness.LoadResult]] = []
        with harness.ceiling_server(args.port) as server:
            harness.check_get(server, "/v1/recipients/" + ids[0], "none")
            plan = [
                ("one asyncpg row", rows_file, driver),
                ("/ping, no database", ping_file, driver),
            ]
            if driver == "wrk":
                plan.append(("one asyncpg row", rows_file, "python"))
            for label, paths, which in plan:
                harness.get_load(which, server, paths, "none", args.warmup, args.connections)
                result = harness.get_load(
                    which, server, paths, "none", args.seconds, args.connections
                )
                runs.append((label, result))
    print(f"\nceiling server: {harness.accelerators()}; {args.connections} connections")
    baseline = runs[1][1].per_second
    harness.print_table(
        ["endpoint", "driver", "req/s", "p50 ms", "p99 ms", "vs /ping", *harness.USAGE_HEADERS],
        [
            (
                label,
                r.driver,
                f"{r.per_second:,.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
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
    parser.add_argument("--port", type=int, default=8811)
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
