"""What every scenario shares: rows of results, interleaved rounds, a closed-loop HTTP load,
child processes, databases, and the report (console table, JSON, README table)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
README = ROOT / "benchmarks" / "README.md"
TABLE_START, TABLE_END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"


@dataclass
class Row:
    """One measured figure, its baseline measured in the same run, and its target."""

    scenario: str
    database: str
    figure: float
    unit: str
    target: str
    met: bool | None
    baseline: float | None = None
    ratio: float | None = None
    details: dict = field(default_factory=dict)


@dataclass
class Context:
    quick: bool
    database: str  # "sqlite" or "postgresql"
    workdir: Path
    postgres_server: str
    _databases: list[str] = field(default_factory=list)

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    async def database_url(self, name: str) -> str:
        """A fresh, empty database for one process of the benchmark."""
        if self.database == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / f'{name}-{uuid.uuid4().hex[:6]}.db'}"
        import asyncpg

        database = f"pacte_bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        admin = await asyncpg.connect(self.postgres_server.replace("postgresql+asyncpg", "postgresql") + "/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        self._databases.append(database)
        return f"{self.postgres_server}/{database}"

    async def drop_databases(self) -> None:
        if not self._databases:
            return
        import asyncpg

        admin = await asyncpg.connect(self.postgres_server.replace("postgresql+asyncpg", "postgresql") + "/postgres")
        try:
            for database in self._databases:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()
        self._databases.clear()


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    run: Callable[[Context], Awaitable[list[Row]]]
    databases: tuple[str, ...] = ("sqlite", "postgresql")


@dataclass
class Load:
    """A closed-loop HTTP load: `concurrency` clients each sending as soon as answered."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # CPU time of the server process per answered request (set by `with_cpu`): what one free
    # core sustains, whatever else loads the machine.
    cpu_ms_per_request: float | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def closed_loop(base_url: str, send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
                      *, concurrency: int, seconds: float, headers: dict | None = None) -> Load:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await send(client, next(counter))
            if response.is_success:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
                if errors == 1:
                    print(f"    first error {response.status_code}: {response.text[:300]}", file=sys.stderr)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return Load(len(latencies), errors, elapsed, 1000 * statistics.median(ordered),
                1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))])


async def interleaved(rounds: int, baseline: Callable[[], Awaitable[Load]],
                      project: Callable[[], Awaitable[Load]]) -> tuple[list[Load], list[Load]]:
    """Baseline and project alternate, so a change of the machine's load hits both alike."""
    baselines, projects = [], []
    for _ in range(rounds):
        baselines.append(await baseline())
        projects.append(await project())
    return baselines, projects


def with_cpu(pid: int, load: Callable[[], Awaitable[Load]]) -> Callable[[], Awaitable[Load]]:
    """The same load, with the server process's CPU time per request measured around it."""

    async def measured() -> Load:
        before = cpu_seconds(pid)
        result = await load()
        result.cpu_ms_per_request = 1000 * (cpu_seconds(pid) - before) / max(result.requests + result.errors, 1)
        return result

    return measured


def median_cpu(loads: list[Load]) -> float | None:
    values = [load.cpu_ms_per_request for load in loads if load.cpu_ms_per_request is not None]
    return statistics.median(values) if values else None


def median_rate(loads: list[Load]) -> float:
    return statistics.median(load.per_second for load in loads)


@asynccontextmanager
async def uvicorn_process(factory: str, port: int, env: dict[str, str], log: Path,
                          ready_path: str = "/health/ready") -> AsyncIterator[subprocess.Popen]:
    """One single-worker uvicorn process, as the suite runs each service."""
    process = _spawn_uvicorn(factory, port, env, log)
    try:
        await wait_http(f"http://127.0.0.1:{port}{ready_path}", process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _spawn_uvicorn(factory: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", "--log-level", "warning"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


async def wait_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}; see {log}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout_s}s; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine (every core, every process), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(value) for value in fields[:3]) + sum(int(value) for value in fields[5:8])  # not idle nor iowait
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_by_process(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process, and of the whole machine ("machine"): two
    readings around a window say where its CPU went (the rest is the database and the bench)."""
    seconds = {"machine": machine_cpu_seconds()}
    for name, pid in pids.items():
        try:
            seconds[name] = cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return seconds


def cpu_ms_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """Milliseconds of CPU per item spent by each process between two `cpu_by_process` readings."""
    spent = {name: 1000 * (after[name] - before[name]) / max(items, 1) for name in before if name in after}
    spent["others (database, bench)"] = spent["machine"] - sum(v for k, v in spent.items() if k != "machine")
    return {name: round(value, 1) for name, value in sorted(spent.items(), key=lambda item: -item[1])}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------- the report


def print_rows(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pacte bench — load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for column in ("scenario", "db", "figure", "baseline", "ratio", "server CPU", "target", "met"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.scenario, row.database, f"{row.figure:,.1f} {row.unit}",
                      "—" if row.baseline is None else f"{row.baseline:,.1f} {row.unit}",
                      "—" if row.ratio is None else f"{row.ratio:.2f}", cpu_cell(row.details), row.target,
                      {True: "yes", False: "no", None: "—"}[row.met])
    Console(width=160).print(table)


def cpu_cell(details: dict) -> str:
    """CPU time of the server per unit of work (and the bare baseline's, and their ratio): what
    one free core sustains, unlike wall-clock rates on a machine loaded by other work."""
    if details.get("cpu_ms_per_request") is not None:
        cell = f"{details['cpu_ms_per_request']:.2f} ms/req"
        if details.get("baseline_cpu_ms_per_request") is not None and details.get("cpu_ratio") is not None:
            cell += f" (bare {details['baseline_cpu_ms_per_request']:.2f}: {details['cpu_ratio']:.2f})"
        return cell
    if details.get("gateway_cpu_ms_per_line") is not None:
        return f"{details['gateway_cpu_ms_per_line']:.2f} ms/line (+ sandbox {details.get('sandbox_cpu_ms_per_line', 0):.2f})"
    return "—"


def write_results(rows: list[Row], path: Path, quick: bool) -> dict:
    document = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "rows": [asdict(row) for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document


def readme_table(document: dict) -> str:
    lines = [
        f"Last full run: {document['measured_at']}, {document['cpu_count']} cores, "
        f"load average {' / '.join(f'{x:.2f}' for x in document['load_average'])}.",
        "",
        "| scenario | db | figure | baseline | ratio | server CPU | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in document["rows"]:
        baseline = "—" if row["baseline"] is None else f"{row['baseline']:,.1f} {row['unit']}"
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
        met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
        lines.append(f"| {row['scenario']} | {row['database']} | {row['figure']:,.1f} {row['unit']} | {baseline} | "
                     f"{ratio} | {cpu_cell(row['details'])} | {row['target']} | {met} |")
    return "\n".join(lines)


def regenerate_readme(document: dict) -> None:
    text = README.read_text()
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    README.write_text(f"{head}{TABLE_START}\n{readme_table(document)}\n{TABLE_END}{tail}")
