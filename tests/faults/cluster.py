"""The throwaway PostgreSQL cluster of the fault tests (initdb and pg_ctl in a temporary
folder), which a test may stop, restart, freeze and thaw, and what those tests post to it."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.db.engine import create_engine, create_sessionmaker
from app.domain.enums import Role
from app.services.accounts.clients import create_client
from app.settings import Settings
from tests.conftest import with_lifespan_state
from tests.factories import benefit, recipient

DATABASE = "certsvc_faults"


def server_binaries() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        folder = Path(candidate)
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster that a test may stop and start again."""

    bin: Path
    data: Path
    port: int
    as_postgres: bool

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            # initdb and pg_ctl refuse to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data / "server.log")
        self.run("pg_ctl", "-D", str(self.data / "pgdata"), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self.run("pg_ctl", "-D", str(self.data / "pgdata"), "-m", mode, "-w", "stop")


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


async def create_database(cluster: Cluster) -> None:
    admin = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", timeout=10
    )
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


async def client_key(settings: Settings, role: Role, regions: tuple[str, ...]) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            _, key = await create_client(session, f"faults-{uuid.uuid4().hex[:8]}", role, regions)
    finally:
        await engine.dispose()
    return key


@contextlib.asynccontextmanager
async def served_client(
    app: FastAPI, key: str, request_seconds: float
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app``, its lifespan running, calling with ``key``; what the app raises
    comes back as its own 500 answer, as a real server would send it."""
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=with_lifespan_state(app, state), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
            timeout=request_seconds,
        ) as client:
            yield client


@dataclass
class Outcome:
    number: str
    status: int
    code: str | None
    recipient_id: str | None
    started: float
    elapsed: float


async def post_recipient(client: httpx.AsyncClient, number: str) -> Outcome:
    body = recipient(
        number,
        benefits=[benefit(), benefit(benefit_type="enterprise_pension", external_ref="P-1")],
    )
    started = time.monotonic()
    response = await client.post("/v1/recipients", json=body)
    elapsed = time.monotonic() - started
    document = response.json()
    return Outcome(
        number,
        response.status_code,
        document.get("code"),
        document.get("recipient_id"),
        started,
        elapsed,
    )


def cluster_processes(cluster: Cluster) -> list[int]:
    """The postmaster of the throwaway cluster and every process it forked (backends, the
    checkpointer, ...): the whole server, as a hypervisor pausing its machine would see it."""
    postmaster = int((cluster.data / "pgdata" / "postmaster.pid").read_text().split()[0])
    processes = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces; the parent id is the second field after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                processes.append(int(stat.parent.name))
    return processes


@contextlib.contextmanager
def frozen(cluster: Cluster) -> Iterator[None]:
    """SIGSTOP the whole cluster: connections stay open and nothing answers, unlike a stop."""
    processes = cluster_processes(cluster)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
