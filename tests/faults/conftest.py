"""The fault tests' PostgreSQL cluster, one per test module. Without the server binaries the
tests that need it are skipped with a reason, except under CI=true, where that is a failure (the
policy of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db.migrate import upgrade_to_head
from tests.faults.cluster import Cluster, create_database, free_port, server_binaries, unavailable


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    binaries = server_binaries()
    if binaries is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    as_postgres = os.geteuid() == 0
    if as_postgres and shutil.which("runuser") is None:
        unavailable("running as root without runuser to drop to the postgres user")
    # Not under pytest's 0700 folders: the postgres user must be able to reach it.
    data = Path(tempfile.mkdtemp(prefix="certsvc-faults-"))
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")
    cluster = Cluster(binaries, data, free_port(), as_postgres)
    started = False
    try:
        cluster.run("initdb", "-D", str(data / "pgdata"), "-U", "postgres", "--auth=trust")
        cluster.start()
        started = True
        asyncio.run(create_database(cluster))
        upgrade_to_head(cluster.url)
        yield cluster
    finally:
        if started:
            with contextlib.suppress(RuntimeError):  # already stopped by a failing test
                cluster.stop("fast")
        shutil.rmtree(data, ignore_errors=True)
