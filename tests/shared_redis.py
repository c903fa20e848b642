"""The Redis server the shared rate-limit tests count in (127.0.0.1:6379 on the developers'
machines and CI's; CERTSVC_TEST_REDIS_URL to point elsewhere). Without one those tests skip
with a reason, except under CI=true, where that is a failure (.ci/run starts it)."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("CERTSVC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _redis_reason() -> str | None:
    address = urlsplit(REDIS_URL)
    try:
        async with asyncio.timeout(3):
            reader, writer = await asyncio.open_connection(
                address.hostname or "127.0.0.1", address.port or 6379
            )
            writer.write(b"PING\r\n")
            answer = await reader.readline()
            writer.close()
            await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        return f"Redis at {address.hostname}:{address.port} unreachable: {exc!r}"
    if not answer.startswith((b"+PONG", b"-NOAUTH")):
        return f"Redis at {address.hostname}:{address.port} answered PING with {answer!r}"
    return None


async def require_redis() -> str:
    """The test server's URL; skips the test when it does not answer (fails it under CI)."""
    reason = await _redis_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return REDIS_URL
