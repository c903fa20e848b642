"""One process of a host's deployment, for tests/api/test_multiprocess_metrics.py: started with
PROMETHEUS_MULTIPROC_DIR and the CERTSVC_ settings in its environment, ``serve N`` answers N
``GET /healthz`` and exits; ``scrape`` prints what ``GET /metrics`` answers."""

from __future__ import annotations

import asyncio
import sys

import httpx

from app.main import create_app
from tests.conftest import with_lifespan_state


async def main(mode: str, count: int) -> None:
    app = create_app()
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=with_lifespan_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            if mode == "serve":
                for _ in range(count):
                    (await client.get("/healthz")).raise_for_status()
            else:
                print((await client.get("/metrics")).text)  # noqa: T201


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
