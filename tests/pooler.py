"""A real PgBouncer in transaction mode in front of one database of the test server, started
and stopped by the tests (tests/faults/test_pgbouncer.py, and the whole PostgreSQL half of the
suite when CERTSVC_TEST_THROUGH_PGBOUNCER=1: tests/conftest.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def installed() -> bool:
    return shutil.which(PGBOUNCER) is not None


@asynccontextmanager
async def pgbouncer(direct_url: str, *, pool_size: int = 3) -> AsyncIterator[str]:
    """PgBouncer 1.18 with its default settings but ``pool_mode = transaction`` and
    ``pool_size`` server connections, in front of ``direct_url``'s database: yields the same
    database's URL through it."""
    target = make_url(direct_url)
    database = target.database or ""
    # PgBouncer runs as postgres (it refuses root) and must read its files and write its log.
    folder = Path(f"/tmp/certsvc-pgbouncer-{uuid.uuid4().hex[:10]}")
    await asyncio.to_thread(folder.mkdir, mode=0o755)
    try:
        port = _free_port()
        ini = _config(folder, target.host, target.port, database, port, pool_size)
        process = _start(folder, ini)
        try:
            await _wait_for(process, folder, port, database)
            yield target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(
    folder: Path, host: str | None, port: int | None, database: str, listen: int, pool_size: int
) -> Path:
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
{database} = host={host or "127.0.0.1"} port={port or 5432} dbname={database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
"""
    )
    return ini


def _start(folder: Path, ini: Path) -> subprocess.Popen[bytes]:
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(folder, "postgres")
    command = [PGBOUNCER, *(["-u", "postgres"] if as_postgres else []), str(ini)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_for(
    process: subprocess.Popen[bytes], folder: Path, port: int, database: str
) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            probe = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{port}/{database}", timeout=2
            )
            await probe.close()
            return
        except (OSError, asyncpg.PostgresError):
            if process.poll() is not None or time.monotonic() > deadline:
                log = folder / "pgbouncer.log"
                shown = log.read_text() if log.exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {shown[-2000:]}") from None
            await asyncio.sleep(0.2)
