"""Deciding the spans of a big payment run in decision processes (PostgreSQL).

The engine is pure Python, so one process decides on one core. A province's million benefits
are therefore split into spans (app/db/runs/postgresql.py) that decision
processes read, decide and store on their own connections, each reading in a transaction on
the snapshot the run exported. The process computing the run only hands out the spans, hashes
the pages the decision processes send back in span order (the digest is over the NDJSON in
the order it is served) and beats the run's heartbeat.

A decision process is a fresh interpreter, ``python -m app.services.payment_runs.workers``,
started per run: it inherits none of its parent's threads, connections or event loop, and
imports nothing of the program that started it. It reads the run's `WorkerSpec`, then spans,
from stdin and answers each with a `SpanResult` on stdout (length-prefixed pickles between the
two processes of one run, never anything from outside). When its parent goes away its stdin
ends, and so does it; PostgreSQL ends a transaction left idle longer than
`_IDLE_IN_TRANSACTION`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import struct
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import asyncpg

from app.db.runs.claims import ClaimLost, RunClaim
from app.db.runs.postgresql import RunInput, Span, begin_snapshot, read_span, store_span
from app.db.runs.source import FanOut
from app.domain.policy import PolicyBook
from app.logs import configure_logging
from app.services.payment_runs.compute import RunDecider

# Processes per run: the machine's cores, at most two (PostgreSQL needs the rest).
WORKERS = min(2, os.cpu_count() or 1)
# Spans handed to each worker ahead of the one it is deciding, so it never waits for work.
_AHEAD = 2
_IDLE_IN_TRANSACTION = "600s"
_LENGTH = struct.Struct(">Q")
_BUFFER = 16 * 2**20
logger = logging.getLogger("certsvc.payment_runs")


@dataclass(frozen=True)
class WorkerSpec:
    """What each worker needs, sent once when it starts."""

    dsn: str
    snapshot: str
    claim: RunClaim
    run: RunInput
    policies: PolicyBook
    on: date
    known_at: datetime
    pooled: bool = False  # behind a transaction-mode pooler: no asyncpg statement cache

    @classmethod
    def of(
        cls, fan_out: FanOut, claim: RunClaim, policies: PolicyBook, on: date, known_at: datetime
    ) -> WorkerSpec:
        return cls(
            fan_out.dsn,
            fan_out.snapshot,
            claim,
            fan_out.run,
            policies,
            on,
            known_at,
            fan_out.pooled,
        )


@dataclass(frozen=True, slots=True)
class SpanResult:
    """A stored span: its page (the lines, for the run's digest) and its counts."""

    page: int
    body: bytes
    payable: int
    withheld: int
    stopped: int


class SpanWork:
    """Reads, decides and stores spans of one run in a decision process: ``reader`` is in a
    transaction on the run's snapshot, ``writer`` commits each span's page and items."""

    def __init__(
        self,
        reader: asyncpg.Connection,
        writer: asyncpg.Connection,
        claim: RunClaim,
        run: RunInput,
        decider: RunDecider,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.claim = claim
        self.run = run
        self.decider = decider

    async def __call__(self, span: Span) -> SpanResult:
        chunk = await read_span(self.reader, self.run, span)
        decided = self.decider.decide(chunk, span.first_seq)
        if len(decided.records) != span.items:  # the snapshot makes this impossible
            raise RuntimeError(f"span {span.page} read {len(decided.records)} of {span.items}")
        body = b"".join(decided.lines)
        async with self.writer.transaction():
            await store_span(
                self.writer, self.claim, span.page, span.first_seq, body, decided.records
            )
        return SpanResult(span.page, body, decided.payable, decided.withheld, decided.stopped)


class WorkerFailed(RuntimeError):
    """A worker could not decide its span (its log on stderr says why)."""


async def decide_in_workers(
    spec: WorkerSpec,
    spans: Sequence[Span],
    stored: Callable[[SpanResult], Awaitable[None]],
    workers: int = WORKERS,
) -> None:
    """Decide every span in ``workers`` processes, calling ``stored`` with each span's result
    in span order. Span k goes to worker k mod ``workers``, so each worker's answers arrive
    in order too."""
    started = [await _Worker.start(spec) for _ in range(max(1, min(workers, len(spans))))]
    count = len(started)
    try:
        sent = 0
        for index in range(len(spans)):
            while sent < len(spans) and sent <= index + _AHEAD * count:
                await started[sent % count].send(spans[sent])
                sent += 1
            await stored(await started[index % count].receive())
        for worker in started:
            await worker.finish()
    finally:
        for worker in started:
            await worker.stop()


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, spec: WorkerSpec) -> _Worker:
        # The parent's import path, so the worker runs this very code.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            # Buffer a few pages here, so a worker never waits for the parent to read.
            limit=_BUFFER,
        )
        worker = cls(process)
        await worker.send(spec)
        return worker

    async def send(self, message: object) -> None:
        assert self.process.stdin is not None
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(_LENGTH.pack(len(payload)) + payload)
        await self.process.stdin.drain()

    async def receive(self) -> SpanResult:
        assert self.process.stdout is not None
        try:
            (size,) = _LENGTH.unpack(await self.process.stdout.readexactly(_LENGTH.size))
            answer = pickle.loads(await self.process.stdout.readexactly(size))  # noqa: S301 - our own child
        except asyncio.IncompleteReadError:
            await self.process.wait()
            raise WorkerFailed(f"a run worker exited ({self.process.returncode})") from None
        if answer == ClaimLost.__name__:
            raise ClaimLost
        if not isinstance(answer, SpanResult):
            raise WorkerFailed(f"a run worker failed: {answer}")
        return answer

    async def finish(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


# --- the worker process ---------------------------------------------------------------------


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(header)
    return pickle.loads(stream.read(size))  # noqa: S301 - from our own parent


def _write(stream: IO[bytes], message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


async def _open(spec: WorkerSpec) -> SpanWork:
    # Set per transaction, not at connect: a transaction-mode pooler (PgBouncer) refuses
    # startup parameters other than the application name.
    settings = {"application_name": "certsvc-run"}
    cache = {"statement_cache_size": 0} if spec.pooled else {}
    reader = await asyncpg.connect(spec.dsn, server_settings=settings, **cache)
    await reader.transaction(isolation="repeatable_read", readonly=True).start()
    await begin_snapshot(reader, spec.snapshot)
    await reader.execute(
        f"SET LOCAL idle_in_transaction_session_timeout = '{_IDLE_IN_TRANSACTION}'"
    )
    writer = await asyncpg.connect(spec.dsn, server_settings=settings, **cache)
    decider = RunDecider(
        spec.claim.run_id,
        spec.policies,
        spec.on,
        spec.known_at,
        spec.run.moratoria,
        spec.run.prior.stored,
    )
    return SpanWork(reader, writer, spec.claim, spec.run, decider)


def main() -> None:
    """Decide the spans that arrive on stdin until it ends."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries answers only
    configure_logging(os.environ.get("CERTSVC_LOG_LEVEL", "WARNING"))
    spec = _read(source)
    if not isinstance(spec, WorkerSpec):
        raise SystemExit("no run given")
    loop = asyncio.new_event_loop()
    work: SpanWork | None = None
    try:
        work = loop.run_until_complete(_open(spec))
        # A span builds ~100,000 objects that live until it is stored: the cyclic collector
        # would scan them again and again (a third of the decide time). Collect once per span
        # instead, over the span's objects only (what exists now is frozen out of it).
        gc.freeze()
        gc.disable()
        while (span := _read(source)) is not None:
            _write(sink, loop.run_until_complete(work(span)))
            gc.collect()
    except ClaimLost:
        # Another computation took the run over: this one stops, and its parent with it.
        _write(sink, ClaimLost.__name__)
        raise SystemExit(1) from None
    except Exception as exc:
        logger.exception("payment run worker failed", extra={"run_id": str(spec.claim.run_id)})
        _write(sink, type(exc).__name__)
        raise SystemExit(1) from None
    finally:
        if work is not None:
            loop.run_until_complete(work.reader.close())
            loop.run_until_complete(work.writer.close())
        loop.close()


if __name__ == "__main__":
    # Run the imported module's main, so that the classes pickles name are this module's.
    from app.services.payment_runs.workers import main as run

    run()
