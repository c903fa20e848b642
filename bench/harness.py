"""Shared plumbing for the benchmark scripts: the database, servers run as subprocesses, API
clients, CPU and memory accounting from /proc, the two load drivers, and the result table.

Nothing here measures by itself; see the scripts (`python -m bench.<name> --help`) and
docs/performance.md.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"
STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the seconds since the script started."""
    print(f"[{time.monotonic() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# --- database -------------------------------------------------------------------------------


def database_url() -> str:
    url = get_settings().database_url
    if not url.startswith("postgresql"):
        raise SystemExit(
            "set CERTSVC_DATABASE_URL (and CERTSVC_DATA_DIR) to the PostgreSQL benchmark "
            "database built by `python -m bench.province` (docs/performance.md)"
        )
    return url


def asyncpg_dsn() -> str:
    url = make_url(database_url()).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn())


async def durability(connection: asyncpg.Connection) -> str:
    """The settings that make a commit durable, as one line for the report."""
    names = ("fsync", "synchronous_commit", "wal_sync_method")
    values = [await connection.fetchval(f"SHOW {name}") for name in names]
    return ", ".join(f"{name}={value}" for name, value in zip(names, values, strict=True))


async def sample_recipient_ids(
    connection: asyncpg.Connection, count: int, seed: int = 7, *, certifying: bool = False
) -> list[str]:
    """``count`` recipients drawn at random (repeatably) from the whole table; with
    ``certifying``, only those without a stop report: the people who pass face checks. (A
    certification after a recorded death is a fraud case, and one by a reported prisoner
    needs documents; at the generator's 1.5 % they would be in every 1000-item batch, where
    in life they are rare. Their paths are tested, not benchmarked.)"""
    total = await connection.fetchval(
        "SELECT greatest(reltuples, 1)::bigint FROM pg_class WHERE relname = 'recipients'"
    )
    percent = min(100.0, 100.0 * count * 1.5 / total)
    living = (
        " WHERE NOT EXISTS (SELECT 1 FROM stop_reports s WHERE s.recipient_id = r.id)"
        if certifying
        else ""
    )
    rows = await connection.fetch(
        f"SELECT id FROM recipients r TABLESAMPLE BERNOULLI ({percent:.6f}) REPEATABLE ($1)"
        + living,
        seed,
    )
    ids = [str(row["id"]) for row in rows]
    if len(ids) < count:
        ids = [
            str(row["id"]) for row in await connection.fetch("SELECT id FROM recipients r" + living)
        ]
    if not ids:
        raise SystemExit("the benchmark database has no recipients: run bench.province first")
    return random.Random(seed).sample(ids, min(count, len(ids)))


async def drop_client(connection: asyncpg.Connection, name: str) -> None:
    """Remove a client this run created; revoke it instead if something still refers to it."""
    try:
        await connection.execute("DELETE FROM api_clients WHERE name = $1", name)
    except asyncpg.ForeignKeyViolationError:
        await connection.execute(
            "UPDATE api_clients SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            name,
        )


def run_token() -> str:
    """Marks everything one run creates (client names, source_refs, scratch tables)."""
    return time.strftime("%m%d%H%M") + secrets.token_hex(2)


# --- the service as a subprocess ------------------------------------------------------------


def certsvc_command() -> list[str]:
    """The `certsvc` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("certsvc")
    if script.exists():
        return [str(script)]
    found = shutil.which("certsvc")
    return [found] if found else [sys.executable, "-m", "app.cli"]


def service_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CERTSVC_LOG_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def create_client(name: str, role: str, regions: str = "") -> str:
    """`certsvc clients create`; the key is the last line it prints."""
    argv = [*certsvc_command(), "clients", "create", "--name", name, "--role", role]
    if regions:
        argv += ["--regions", regions]
    done = subprocess.run(
        argv, cwd=ROOT, env=service_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"certsvc clients create failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


class Server:
    """A server subprocess on a loopback port, ready once ``ready_path`` answers 200."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        ready_path: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.argv, self.port, self.ready_path = name, list(argv), port, ready_path
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"bench-{name}-{port}.log"

    def env(self) -> dict[str, str]:
        return service_env(**self.extra_env)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        if not port_is_free(self.port):
            raise SystemExit(f"port {self.port} is busy; choose another with --port")
        log(f"starting {self.name} on port {self.port}")
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env(), stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start-up; its log:\n{self._tail()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        log(f"{self.name} ready (pid {self.process.pid})")
                        return
            except urllib.error.HTTPError as exc:  # 503 from /readyz: say why, stop early
                body = json.loads(exc.read() or b"{}")
                if body.get("database") == "ok" and body.get("migration") != body.get(
                    "expected_migration"
                ):
                    self.stop()
                    raise SystemExit(
                        f"the database is at migration {body.get('migration')}, the code expects "
                        f"{body.get('expected_migration')}: run `certsvc migrate` first"
                    ) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.name} was not ready within {timeout:.0f}s; log:\n{self._tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        log(f"stopping {self.name}")
        self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def certsvc_server(port: int, workers: int = 1, env: dict[str, str] | None = None) -> Server:
    argv = [*certsvc_command(), "serve", "--port", str(port), "--workers", str(workers)]
    return Server("certsvc", argv, port, ready_path="/readyz", env=env)


@contextmanager
def certsvc_worker(**env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `certsvc worker` process computing payment runs only (no sweep or deliveries beside
    what is measured) until the block ends (SIGTERM: it finishes the run in flight first)."""
    output = (Path(tempfile.gettempdir()) / "bench-certsvc-worker.log").open("wb")
    argv = [*certsvc_command(), "worker", "--jobs", "runs", "--poll", "0.2"]
    log("starting certsvc worker")
    process = subprocess.Popen(
        argv, cwd=ROOT, env=service_env(**env), stdout=output, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_idle(process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


def _wait_until_idle(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until a process that has no ready endpoint is done starting: its CPU time stops
    growing (so its imports are not counted as the work measured next)."""
    deadline = time.monotonic() + timeout
    spent = cpu_seconds(process.pid)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited at start-up")
        time.sleep(0.5)
        now = cpu_seconds(process.pid)
        if now - spent < 0.02:
            log(f"certsvc worker ready (pid {process.pid})")
            return
        spent = now
    raise SystemExit("certsvc worker did not settle within a minute")


def ceiling_server(port: int) -> Server:
    argv = [sys.executable, "-m", "bench.ceiling", "serve", "--port", str(port)]
    return Server("ceiling", argv, port, ready_path="/ready")


def accelerators(workers: int = 1) -> str:
    """What uvicorn's 'auto' loop and HTTP parser pick in this environment."""
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return f"uvicorn loop={loop} http={http}, {workers} worker{'s' if workers > 1 else ''}"


def machine_speed() -> str:
    """A fixed pure-Python loop, timed, so figures from different days can be compared.

    The machines are shared and their speed varies from day to day; the ratios do not need
    this, but absolute figures (certifications per second) should be read against it.
    """

    def spin() -> float:
        started = time.perf_counter()
        total = 0
        for step in range(5_000_000):
            total += step
        return time.perf_counter() - started

    best = min(spin() for _ in range(3))
    return f"CPU reference {best * 1000:.0f} ms (5M-step Python loop, best of 3; lower is faster)"


# --- /proc accounting -----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and its live descendants (uvicorn's worker processes)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the kernel's resident peak) in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


class RssSampler:
    """Samples a process's resident set every ``interval`` seconds in a thread; ``phase``
    names the part of the run the following samples belong to."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self.peaks: dict[str, int] = {}
        self.phase = "idle"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = memory_kib(self.pid)["VmRSS"]
            except (FileNotFoundError, KeyError, ProcessLookupError):
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --- load drivers ---------------------------------------------------------------------------

WRK_GET_SCRIPT = """
-- GET the paths listed in a file, round robin; the API key comes from BENCH_API_KEY.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "")
local paths, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, ' ..
    '"socket_errors": %d, "non_2xx_3xx": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass
class LoadResult:
    """One bounded load run, with what the server, the driver and the machine spent."""

    driver: str
    requests: int
    ok: int
    seconds: float
    p50_ms: float
    p99_ms: float
    items: int
    server_cpu: float
    driver_cpu: float
    machine_busy: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def items_per_cpu_second(self) -> float:
        """Items per second of server CPU: the figure a shared, busy machine disturbs least."""
        return self.items / self.server_cpu if self.server_cpu else 0.0

    def usage(self) -> list[str]:
        """Server and driver CPU in % of one core, and how busy the whole machine was."""
        seconds = max(self.seconds, 1e-9)
        return [
            f"{100 * self.server_cpu / seconds:.0f} %",
            f"{100 * self.driver_cpu / seconds:.0f} %",
            f"{100 * self.machine_busy:.0f} %",
        ]


USAGE_HEADERS = ["server CPU", "driver CPU", "machine busy"]


def combine(results: Sequence[LoadResult]) -> LoadResult:
    """Several slices of one load as one: counts, seconds and CPU add up; the latency figures
    are the median of the slices' (wrk reports percentiles, not samples)."""
    first = results[0]
    seconds = sum(r.seconds for r in results)

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    return LoadResult(
        driver=first.driver,
        requests=sum(r.requests for r in results),
        ok=sum(r.ok for r in results),
        seconds=seconds,
        p50_ms=median([r.p50_ms for r in results]),
        p99_ms=median([r.p99_ms for r in results]),
        items=sum(r.items for r in results),
        server_cpu=sum(r.server_cpu for r in results),
        driver_cpu=sum(r.driver_cpu for r in results),
        machine_busy=sum(r.machine_busy * r.seconds for r in results) / max(seconds, 1e-9),
        detail={"slices": [r.per_second for r in results]},
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def choose_driver(requested: str) -> str:
    if requested == "auto":
        return "wrk" if wrk_available() else "python"
    if requested == "wrk" and not wrk_available():
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --driver python")
    return requested


def _run_driver(
    argv: list[str], env: dict[str, str], server_pid: int, budget: float
) -> tuple[dict[str, Any], float, float, float]:
    """Run a driver process to its end (killed after ``budget`` seconds), returning its JSON
    line, its own CPU time, and the server's and the machine's CPU over the same window."""
    log("load: " + " ".join([Path(argv[0]).name, *argv[1:]])[:160])
    server_before, machine_before = tree_cpu_seconds(server_pid), machine_ticks()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)
        timer = threading.Timer(budget, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = tree_cpu_seconds(server_pid) - server_before
        busy_after, total_after = machine_ticks()
        machine = (busy_after - machine_before[0]) / max(total_after - machine_before[1], 1)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        out.seek(0)
        lines = [line for line in out.read().decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise SystemExit(f"load driver failed ({process.returncode}): {stderr.strip()[-2000:]}")
    return json.loads(lines[-1]), usage.ru_utime + usage.ru_stime, server_cpu, machine


def wrk_get(
    server: Server, paths_file: Path, key: str, seconds: float, connections: int
) -> LoadResult:
    """GET the listed paths with wrk (one thread, ``connections`` keep-alive connections)."""
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_GET_SCRIPT)
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        server.url,
        "--",
        str(paths_file),
    ]
    env = {**os.environ, "BENCH_API_KEY": key}
    data, driver_cpu, server_cpu, machine = _run_driver(argv, env, server.pid, seconds + 60)
    ok = data["requests"] - data["non_2xx_3xx"] - data["socket_errors"]
    return LoadResult(
        driver="wrk",
        requests=data["requests"],
        ok=ok,
        seconds=data["seconds"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        items=ok,
        server_cpu=server_cpu,
        driver_cpu=driver_cpu,
        machine_busy=machine,
        detail=data,
    )


def python_load(
    server: Server, key: str, seconds: float, connections: int, mode: str, **options: object
) -> LoadResult:
    """The asyncio driver of bench.loadgen, in its own process."""
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--port",
        str(server.port),
        "--mode",
        mode,
        "--duration",
        f"{seconds:g}",
        "--connections",
        str(connections),
    ]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return run_python_driver(argv, server, key, timeout=seconds + 90)


def run_python_driver(argv: list[str], server: Server, key: str, timeout: float) -> LoadResult:
    """Run a Python load driver (``argv``, reporting JSON as bench.loadgen does) against
    ``server`` with ``key``; its own CPU is the one it measured over the load itself."""
    env = {**os.environ, "BENCH_API_KEY": key}
    data, driver_cpu, server_cpu, machine = _run_driver(argv, env, server.pid, timeout)
    return LoadResult(
        driver="python",
        requests=data["requests"],
        ok=data["ok"],
        seconds=data["seconds"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        items=data["items"],
        server_cpu=server_cpu,
        driver_cpu=data.get("cpu_s", driver_cpu),  # its CPU over the load, imports excluded
        machine_busy=machine,
        detail=data,
    )


def get_load(
    driver: str, server: Server, paths_file: Path, key: str, seconds: float, connections: int
) -> LoadResult:
    if driver == "wrk":
        return wrk_get(server, paths_file, key, seconds, connections)
    return python_load(server, key, seconds, connections, "get", paths=paths_file)


def check_get(server: Server, path: str, key: str) -> None:
    """One request before the load, so that a wrong key or path fails loudly, not as a
    table full of 4xx."""
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{server.name} {path}: {exc.code} {exc.read()[:500]!r}") from None


# --- output ---------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A small Markdown table, ready to paste into docs/performance.md."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


def ratio(figure: float, baseline: float) -> str:
    return f"{figure / baseline:.1%}" if baseline else "n/a"


def times(figure: float, baseline: float) -> str:
    return f"{figure / baseline:.1f}×" if baseline else "n/a"


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Path(folder)
