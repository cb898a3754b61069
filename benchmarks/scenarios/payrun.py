"""The monthly pay run of the remuneration service at increasing sizes: seconds to compute and
validate one month, files per second, and how the time grows with the size.

For each size, a fresh remuneration process (single uvicorn worker, its own database, a Tansu
broker) is loaded through its real interfaces only: a stand-in for the sessions service
publishes each file's enrolment, entry and two months of attendance to the bus (the events
remuneration consumes), the service's /metrics says when its consumers have handled them all,
and the training organisation files each remuneration request with `POST /requests`. Then the
Region computes and validates May (each file's first month) and June (its second month: May,
settled by May's validated run under the same facts and rules, is not recomputed; the steady
state of a monthly run) over HTTP. The figure is June's `POST /runs` + `POST /runs/{month}/validate`,
wall clock. Then, on the same database, the service restarts with a Region top-up changed: the
rules' digest changes, so July's run recomputes every earlier month of every file (May and June;
July itself waits for its attendance), measured as the rate-change row (informational: the target
is the steady state).

Target (benchmarks/README.md): 100,000 files ≤ 30 s, linear. Sizes: 1,000 and 10,000 files, and
100,000 on PostgreSQL (`PACTE_BENCH_PAYRUN_FILES`, comma-separated; quick: 10 and 30). Loading
100,000 files through the bus and HTTP takes hours here, so past `PACTE_BENCH_PAYRUN_LOADED`
files (1,000) on PostgreSQL the first 1,000 are loaded as above and the rest are copies of them
made in the service's database (new dossier, person and request ids; the same facts), before any
run: the run then reads and pays every file as it would real ones. On SQLite every file is loaded
through the interfaces, and 100,000 files are extrapolated from the two largest sizes with the
growth they show (never better than linear). No baseline app: the target is the goal; the ratio
is target time ÷ measured time (≥ 1 is met)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
import uuid
from datetime import date
from decimal import Decimal

import httpx
from pacte_common.auth import OrgKind
from pacte_common.bus import topic_name
from pacte_common.events import Envelope
from pacte_common.settings import BusSettings
from pacte_testing.remuneration import IBAN, ORG_SIRET, FileSpec, SessionsStandIn, nir_of
from pacte_tools.broker import free_port, start_tansu, stop_process
from pacte_tools.dev_issuer import mint_token
from remuneration.settings import RemunerationSettings

from benchmarks.core import Context, Row, Scenario, cpu_seconds, uvicorn_process

TARGET_FILES, TARGET_SECONDS = 100_000, 30.0
# Files loaded through the real interfaces before copies are made in the database (PostgreSQL).
LOADED = int(os.environ.get("PACTE_BENCH_PAYRUN_LOADED", "1000"))
FIRST, SECOND, THIRD = "2021-05", "2021-06", "2021-07"
# The rate change of the third month: the jobseeker top-up +1 € (every earlier month is then worth 1 € more).
CHANGED_TOP_UPS = json.dumps([{"effective_from": "2019-01-01", "effective_until": None, "jobseeker": "16.00",
                               "first_time_jobseeker": "65.00", "single_parent": "350.00",
                               "source": "benchmark: a rate changed"}])
CONCURRENCY = 8  # clients filing remuneration requests


class _Sessions(SessionsStandIn):
    """The stand-in, publishing without waiting for each acknowledgement (order per file kept:
    one producer, one partition per key); `flush` waits for them all."""

    def __init__(self, settings: RemunerationSettings):
        super().__init__(settings)
        self.pending: list[asyncio.Future] = []
        self.published = 0

    async def publish(self, event, key: uuid.UUID):
        envelope = Envelope.wrap(event, source="/pacte/sessions", subject=str(key))
        self.pending.append(await self.producer.send(
            topic_name(self.settings.bus, event.topic), value=envelope.body(), key=str(key).encode(),
            headers=envelope.headers()))
        self.published += 1

    async def flush(self) -> None:
        await asyncio.gather(*self.pending)
        self.pending.clear()


def _spec(i: int) -> FileSpec:
    """Varied trainees (age, family, benefits, part time), as the run's tests make them."""
    return FileSpec(
        birth_date=date(1960 + i % 45, 1 + i % 12, 1 + i % 27), single_parent=i % 5 == 0,
        first_time_jobseeker=i % 3 == 0, unemployment_benefit=i % 4 == 1,
        unemployment_daily_amount=Decimal("20.81") if i % 4 == 1 else None, tension_sector=i % 6 == 2,
        weekly_hours=Decimal("35") if i % 2 else Decimal("24.5"), nir=nir_of(i),
    )


async def _load(sessions: _Sessions, files: int) -> list[uuid.UUID]:
    dossiers = []
    for i in range(files):
        dossier = await sessions.enrol(_spec(i))
        await sessions.enter(dossier, date(2021, 5, 1 + i % 28))
        await sessions.attendance(dossier, FIRST, planned=120, unjustified=i % 4 * 3)
        await sessions.attendance(dossier, SECOND, planned=140, unjustified=i % 3 * 2)
        dossiers.append(dossier)
        if len(sessions.pending) >= 2_000:
            await sessions.flush()
    await sessions.flush()
    return dossiers


async def _copy_files(database_url: str, files: int, loaded: int) -> None:
    """Copies of the `loaded` files (their facts and attendance) in the service's database, up to `files`:
    new dossier, person and request ids, everything else the same (PostgreSQL, before any run)."""
    from remuneration.db.models import AttendanceStatementRow, RemunerationFile
    from sqlalchemy.ext.asyncio import create_async_engine

    copies = math.ceil(files / loaded) - 1
    new_ids = {"dossier_id": "m.target", "person_id": "gen_random_uuid()", "request_id": "gen_random_uuid()"}
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "CREATE TEMP TABLE copy_map AS SELECT source, gen_random_uuid() AS target FROM "
                f"(SELECT dossier_id AS source FROM remuneration_files ORDER BY dossier_id) f, "
                f"generate_series(1, {copies}) k LIMIT {files - loaded}")
            for model in (RemunerationFile, AttendanceStatementRow):
                columns = [c.name for c in model.__table__.columns if c.name != "id"]
                values = [new_ids.get(c, f"t.{c}") if model is RemunerationFile else
                          ("m.target" if c == "dossier_id" else f"t.{c}") for c in columns]
                await connection.exec_driver_sql(
                    f"INSERT INTO {model.__tablename__} ({', '.join(columns)}) SELECT {', '.join(values)} "
                    f"FROM {model.__tablename__} t JOIN copy_map m ON m.source = t.dossier_id")
        async with engine.connect() as connection:
            await (await connection.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


async def consumed(client: httpx.AsyncClient) -> tuple[int, int]:
    """Events the service's consumers have finished with (any outcome), and those dead-lettered,
    from its Prometheus counters."""
    text = (await client.get("/metrics")).text
    done = dead = 0
    for line in text.splitlines():
        match = re.match(r'pacte_events_consumed_total\{.*outcome="(\w+)".*\}\s+([0-9.e+]+)', line)
        if match:
            done += int(float(match.group(2)))
            dead += int(float(match.group(2))) if match.group(1) == "dead_lettered" else 0
    return done, dead


async def _wait_consumed(client: httpx.AsyncClient, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (done := await consumed(client))[0] < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"remuneration consumed {done[0]} of {expected} events in {timeout_s:.0f} s")
        await asyncio.sleep(0.5)
    if done[1]:
        raise RuntimeError(f"{done[1]} events dead-lettered by remuneration")


async def _file_requests(client: httpx.AsyncClient, dossiers: list[uuid.UUID], org: dict) -> int:
    """Every trainee's request, CONCURRENCY at a time; returns the number refused."""
    queue = iter(enumerate(dossiers))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i, dossier in queue:
            response = await client.post("/requests", headers={**org, "Idempotency-Key": str(uuid.uuid4())}, json={
                "dossier_id": str(dossier), "iban": IBAN, "unemployment_benefit": i % 4 == 1,
                "unemployment_daily_amount": "20.81" if i % 4 == 1 else None,
                "transport_allowance": i % 2 == 0, "advance_wanted": i % 8 == 0,
            })
            if response.status_code != 201:
                errors += 1
                if errors == 1:
                    print(f"    first refused request {response.status_code}: {response.text[:300]}", flush=True)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return errors


async def _month(client: httpx.AsyncClient, region: dict, month: str, pid: int) -> dict:
    """Compute then validate one month over HTTP, timed; the service's CPU time alongside."""
    cpu, started = cpu_seconds(pid), time.perf_counter()
    computed = await client.post("/runs", json={"month": month}, headers=region)
    compute_s = time.perf_counter() - started
    computed.raise_for_status()
    validated = await client.post(f"/runs/{month}/validate", headers=region)
    total_s = time.perf_counter() - started
    validated.raise_for_status()
    run = validated.json()
    return {"month": month, "seconds": round(total_s, 3), "compute_s": round(compute_s, 3),
            "validate_s": round(total_s - compute_s, 3), "server_cpu_s": round(cpu_seconds(pid) - cpu, 3),
            "statements_computed": run["statements_computed"], "statements_waiting": run["statements_waiting"],
            "payment_lines": run["payment_lines"], "total_amount": run["total_amount"],
            "months_reviewed": run["months_reviewed"]}


async def _measure(context: Context, bootstrap: str, files: int) -> dict:
    settings = RemunerationSettings(
        database_url=await context.database_url("remuneration"),
        bus=BusSettings(bootstrap_servers=bootstrap, topic_namespace=f"bench{uuid.uuid4().hex[:6]}."),
        log_json=False,
    )
    sessions = _Sessions(settings)
    await sessions.start()  # creates the topics before the service subscribes
    port = free_port()
    env = {"PACTE_REMUNERATION_DATABASE_URL": settings.database_url, "PACTE_REMUNERATION_LOG_JSON": "false",
           "PACTE_REMUNERATION_BUS__BOOTSTRAP_SERVERS": bootstrap,
           "PACTE_REMUNERATION_BUS__TOPIC_NAMESPACE": settings.bus.topic_namespace}
    region = {"Authorization": f"Bearer {mint_token(settings, OrgKind.REGION, 'region')}"}
    org = {"Authorization": f"Bearer {mint_token(settings, OrgKind.TRAINING_ORG, ORG_SIRET)}"}
    log = context.workdir / f"remuneration-{context.database}-{files}.log"
    try:
        async with uvicorn_process("remuneration.main:create_app", port, env, log) as process:
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=900, limits=limits) as client:
                started = time.perf_counter()
                # quick: 10 files loaded, the rest copied, so CI runs the copy too
                loaded = min(files, 10 if context.quick else LOADED) if context.database == "postgresql" else files
                dossiers = await _load(sessions, loaded)
                await _wait_consumed(client, sessions.published, timeout_s=300 + loaded / 4)
                refused = await _file_requests(client, dossiers, org)
                if files > loaded:
                    await _copy_files(settings.database_url, files, loaded)
                load_s = time.perf_counter() - started
                print(f"    {files:,} files loaded in {load_s:.0f} s ({sessions.published:,} events, "
                      f"{loaded:,} requests, {files - loaded:,} copies)", flush=True)
                first = await _month(client, region, FIRST, process.pid)
                second = await _month(client, region, SECOND, process.pid)
        changed = {**env, "PACTE_REMUNERATION_REGION_TOP_UPS": CHANGED_TOP_UPS}
        port = free_port()
        async with uvicorn_process("remuneration.main:create_app", port, changed, log.with_suffix(".rate.log")) as process:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=900) as client:
                rate_change = await _month(client, region, THIRD, process.pid)
    finally:
        await sessions.stop()
    # Every file has its statement in both months, or the run measured fewer files than it says.
    missing = sum(files - month["statements_computed"] - month["statements_waiting"] for month in (first, second))
    missing += abs(2 * files - rate_change["months_reviewed"])  # after the rate change, May and June of every file
    return {"files": files, "loaded_through_interfaces": loaded, "load_s": round(load_s, 1),
            "errors": refused + missing, "first_month": first, "rate_change": rate_change, **second,
            "files_per_s": round(files / second["seconds"], 1),
            # The service's CPU per file: what one free core sustains, whatever else loads the machine.
            "server_cpu_ms_per_file": round(1000 * second["server_cpu_s"] / files, 3), "load_average": os.getloadavg()}


def _sizes(context: Context) -> list[int]:
    if context.quick:
        return [10, 30]
    default = "1000,10000,100000" if context.database == "postgresql" else "1000,10000"
    return sorted(int(size) for size in os.environ.get("PACTE_BENCH_PAYRUN_FILES", default).split(","))


async def run(context: Context) -> list[Row]:
    port = free_port()
    broker = start_tansu("127.0.0.1", port, context.workdir / f"payrun-broker-{context.database}.log")
    measured = []
    try:
        for files in _sizes(context):
            measured.append(await _measure(context, f"127.0.0.1:{port}", files))
            print(f"    {files:,} files: {measured[-1]['seconds']:.2f} s ({measured[-1]['compute_s']:.2f} compute "
                  f"+ {measured[-1]['validate_s']:.2f} validate)", flush=True)
    finally:
        stop_process(broker)
    return _rows(context, measured)


def _rows(context: Context, measured: list[dict]) -> list[Row]:
    full = not context.quick
    rows = [Row(f"pay run, {m['files']:,} files", context.database, m["seconds"], "s",
                f"≤ {TARGET_SECONDS * m['files'] / TARGET_FILES:,.3g} s (pro rata of 100,000 ≤ 30 s)",
                met=m["seconds"] <= TARGET_SECONDS * m["files"] / TARGET_FILES if full else None,
                ratio=TARGET_SECONDS * m["files"] / TARGET_FILES / m["seconds"], details=m)
            for m in measured]
    largest = measured[-1]
    change = largest["rate_change"]
    rows.append(Row(f"pay run after a rate change, {largest['files']:,} files (every earlier month reviewed)",
                    context.database, change["seconds"], "s", "informational (the target is the steady state)",
                    met=None, details=change))
    rows.append(Row(f"pay run throughput ({largest['files']:,} files)", context.database, largest["files_per_s"],
                    "files/s", f"≥ {TARGET_FILES / TARGET_SECONDS:,.0f} files/s",
                    met=largest["files_per_s"] >= TARGET_FILES / TARGET_SECONDS if full else None, details=largest))
    if len(measured) < 2:
        return rows
    small = measured[-2]
    size_ratio, time_ratio = largest["files"] / small["files"], largest["seconds"] / small["seconds"]
    # time ∝ files^k: k = 1 is linear; the 100,000-file time extrapolates with k (at least 1).
    exponent = math.log(time_ratio) / math.log(size_ratio) if time_ratio > 0 else 1.0
    projected = largest["seconds"] * (TARGET_FILES / largest["files"]) ** max(1.0, exponent)
    cpu_ratio = largest["server_cpu_s"] / small["server_cpu_s"] if small["server_cpu_s"] else math.nan
    cpu_exponent = math.log(cpu_ratio) / math.log(size_ratio) if cpu_ratio > 0 else 1.0
    linearity = {"sizes": [small["files"], largest["files"]], "size_ratio": round(size_ratio, 2),
                 "time_ratio": round(time_ratio, 2), "exponent": round(exponent, 3),
                 # the same on the service's CPU time, steadier than wall clock on a loaded machine
                 "cpu_ratio": round(cpu_ratio, 2), "cpu_exponent": round(cpu_exponent, 3),
                 "cpu_projected_s": round(largest["server_cpu_s"] * (TARGET_FILES / largest["files"]) ** max(1.0, cpu_exponent), 1)}
    rows.append(Row(f"pay run linearity (×{size_ratio:,.1f} files)", context.database, time_ratio / size_ratio,
                    "× linear", "≤ 1.10 (time grows with the files)", met=time_ratio / size_ratio <= 1.10 if full else None,
                    details=linearity))
    if largest["files"] >= TARGET_FILES:
        return rows  # measured, not extrapolated
    rows.append(Row("pay run, 100,000 files (extrapolated)", context.database, projected, "s", "≤ 30 s",
                    met=projected <= TARGET_SECONDS if full else None,
                    details={**linearity, "from_files": largest["files"], "from_seconds": largest["seconds"]}))
    return rows


SCENARIO = Scenario("payrun", "monthly pay run (compute + validate) at increasing sizes", run)
