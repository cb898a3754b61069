"""Entry declared → AGORA acknowledged, in the running suite (sessions → bus → gateway → AGORA
sandbox), at a steady rate of entries.

Training files are first enrolled through the sessions API (`POST /dossiers`) and their AGORA
creation flows left to be acknowledged, as enrolments come days before entries. Then entries
are declared with `POST /dossiers/{id}/entry` at a fixed rate (open loop: one is due every
1/rate s whatever the answers; at most 64 on the wire, the others queue in the client), and
each entry's latency is from the moment it was due to the moment the gateway recorded AGORA's
acknowledgement of the file's `enter` flow, read
back from the gateway's API (`GET /flows?status=acknowledged&operation=enter`: each flow's
`answered_at`, same machine, same clock), so polling adds nothing to what is measured.
The backlog is the entries declared whose flow was not yet acknowledged when the last entry
was answered.

Target (benchmarks/README.md): p99 ≤ 1 s at 100 entries/s for 60 s (`PACTE_BENCH_LATENCY_RATE`,
`PACTE_BENCH_LATENCY_SECONDS`; quick: 3 entries/s for 4 s), with two instances of every service
on PostgreSQL (`PACTE_BENCH_LATENCY_INSTANCES`, default 2 there and 1 on SQLite, which serves
one instance only: docs/scaling.md). No baseline app: the target is
the goal."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
import uuid
from datetime import date, datetime, timedelta

import httpx
from pacte_common.auth import OrgKind
from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases

from benchmarks.core import Context, Row, Scenario, cpu_seconds
from benchmarks.scenarios.http_api import SIRET, bearer, letters, new_nir

TARGET_RATE, TARGET_SECONDS, TARGET_P99_MS = 100.0, 60.0, 1000.0
PLACES = 1_000  # per session: entries are spread over sessions, as over the Region's offer
CONCURRENCY = 8  # clients enrolling before the measure
IN_FLIGHT = 64  # entry requests on the wire at once; later ones wait their turn (and it counts)


async def open_sessions(client: httpx.AsyncClient, count: int, today: date) -> list[str]:
    """A programme in AGORA's perimeter, one action of the organisation, `count` sessions open now."""
    code = f"VISA-{uuid.uuid4().hex[:8]}"
    (await client.post("/programmes", json={"code": code, "name": f"Bench {code}", "pillar": "visa",
                                            "remuneration_approved": True, "tension_sector": False,
                                            "agora_category": "standard"})).raise_for_status()
    action = await client.post("/actions", json={
        "programme_code": code, "organisation_siret": SIRET, "title": "Agent de propreté", "hours_in_centre": "420",
        "hours_in_company": "70", "hourly_price": "12.50", "departement": "44", "weekly_hours": "35",
        "certifying": False})
    action.raise_for_status()
    sessions = []
    for _ in range(count):
        session = await client.post("/sessions", json={
            "action_id": action.json()["id"], "start_date": (today - timedelta(days=7)).isoformat(),
            "end_date": (today + timedelta(days=200)).isoformat(), "places": PLACES})
        session.raise_for_status()
        sessions.append(session.json()["session_id"])
    return sessions


async def enrol(client: httpx.AsyncClient, sessions: list[str], count: int) -> list[str]:
    """`count` training files enrolled directly by the organisation, CONCURRENCY at a time."""
    dossiers: list[str] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            response = await client.post("/dossiers", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                "session_id": sessions[number % len(sessions)],
                "identity": {"birth_name": f"Bench-{letters(number)}", "first_names": "Léa", "nir": new_nir()},
                "profile": {"sex": "F", "birth_date": "1995-03-10", "education_level": "v",
                            "jobseeker_category": "A", "jobseeker_registration_date": "2024-01-15"},
            })
            if response.status_code != 201:
                raise RuntimeError(f"enrolment refused {response.status_code}: {response.text[:300]}")
            dossiers.append(response.json()["id"])

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return dossiers


async def acknowledged(client: httpx.AsyncClient, operation: str) -> dict[str, float]:
    """Every acknowledged live flow of `operation`: dossier id → when AGORA's answer was recorded
    (epoch seconds), paged through the gateway's API."""
    answered, cursor = {}, None
    while True:
        params = {"status": "acknowledged", "operation": operation, "origin": "live", "limit": 500}
        page = await client.get("/flows", params={**params, **({"cursor": cursor} if cursor else {})})
        page.raise_for_status()
        body = page.json()
        for flow in body["items"]:
            answered[flow["dossier_id"]] = datetime.fromisoformat(flow["answered_at"]).timestamp()
        cursor = body["next_cursor"]
        if not cursor:
            return answered


async def wait_acknowledged(client: httpx.AsyncClient, operation: str, dossiers: list[str],
                            timeout_s: float) -> dict[str, float]:
    """Polls until every file's flow of `operation` is acknowledged (or the time is up); a rejected
    flow stops the benchmark, which would measure nothing."""
    wanted, deadline = set(dossiers), time.monotonic() + timeout_s
    while True:
        answered = await acknowledged(client, operation)
        if wanted <= answered.keys() or time.monotonic() > deadline:
            return answered
        rejected = (await client.get("/flows", params={"status": "rejected", "limit": 1})).json()["items"]
        if rejected:
            raise RuntimeError(f"AGORA rejected a flow: {rejected[0]['rejection_code']} {rejected[0]['rejection_message']}")
        await asyncio.sleep(min(3.0, 0.5 + len(wanted) / 2_000))


async def declare_entries(client: httpx.AsyncClient, dossiers: list[str], rate: float, today: date) -> list[dict]:
    """One entry every 1/rate s (open loop), each timed from the moment it was due: when the
    service falls behind, entries wait in this client's queue (FIFO, at most IN_FLIGHT requests
    on the wire, so the HTTP client's own pool never holds thousands of waiters) and that wait
    counts in their latency."""
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def declare(dossier: str, due: float) -> dict:
        async with in_flight:
            started = time.perf_counter()
            try:
                response = await client.post(f"/dossiers/{dossier}/entry", json={"entry_date": today.isoformat()})
                ok, problem = response.is_success, f"{response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:  # a queue so long the client gave up: an entry not declared
                ok, problem = False, repr(exc)
        if not ok:
            print(f"    entry not declared: {problem}", file=sys.stderr)
        return {"dossier": dossier, "sent_at": due, "answered_at": time.time(), "ok": ok,
                "http_ms": 1000 * (time.perf_counter() - started)}

    tasks, started, wall = [], time.perf_counter(), time.time()
    for i, dossier in enumerate(dossiers):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(declare(dossier, wall + i / rate)))
    return list(await asyncio.gather(*tasks))


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else math.nan


async def run(context: Context) -> list[Row]:
    rate = context.size(3, float(os.environ.get("PACTE_BENCH_LATENCY_RATE", TARGET_RATE)))
    seconds = context.size(4, float(os.environ.get("PACTE_BENCH_LATENCY_SECONDS", TARGET_SECONDS)))
    count = max(1, int(rate * seconds))
    settings = SuiteSettings.on_free_ports(context.workdir / f"latency-{context.database}")
    if context.database == "postgresql":
        settings.postgres_url = context.postgres_server
        settings.database_name_prefix = f"pacte_bench_{uuid.uuid4().hex[:6]}_"
        settings.instances = int(os.environ.get("PACTE_BENCH_LATENCY_INSTANCES", 2))
    suite = Suite(settings)
    today = date.today()
    try:
        await asyncio.to_thread(suite.start)
        await asyncio.to_thread(suite.wait_ready)
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with (
            httpx.AsyncClient(base_url=suite.url("sessions"), timeout=60,
                              headers=bearer(suite, OrgKind.REGION, "region", "sessions")) as region,
            httpx.AsyncClient(base_url=suite.url("sessions"), timeout=600, limits=limits,
                              headers=bearer(suite, OrgKind.TRAINING_ORG, SIRET, "sessions")) as organisation,
            httpx.AsyncClient(base_url=suite.url("agora-gateway"), timeout=60,
                              headers=bearer(suite, OrgKind.REGION, "region", "agora-gateway")) as gateway,
        ):
            sessions = await open_sessions(region, math.ceil(count / PLACES), today)
            started = time.perf_counter()
            dossiers = await enrol(organisation, sessions, count)
            created = await wait_acknowledged(gateway, "create", dossiers, timeout_s=120 + count)
            if not set(dossiers) <= created.keys():
                raise RuntimeError(f"{len(set(dossiers) - created.keys())} AGORA creations never acknowledged")
            print(f"    {count:,} files enrolled and created in AGORA in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
            pids = {name: process.pid for name, process in suite.children().items() if process is not None}
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            entries = await declare_entries(organisation, dossiers, rate, today)
            window_end = max(entry["answered_at"] for entry in entries)
            answered = await wait_acknowledged(gateway, "enter", [e["dossier"] for e in entries if e["ok"]],
                                               timeout_s=60 + 2 * count / max(rate, 1))
            drained = time.time()
            # CPU per entry of each process (entries and their flows, polling included): what one free core sustains.
            cpu = {name: round(1000 * (cpu_seconds(pid) - cpu[name]) / count, 2) for name, pid in pids.items()}
    finally:
        await asyncio.to_thread(suite.stop)
        if settings.postgres_url:
            await drop_postgres_databases(settings.postgres_url, [suite.database_url(s) for s in SERVICES if s.has_database])
    return _rows(context, rate, seconds, entries, answered, window_end, drained, cpu, settings.instances)


def _rows(context: Context, rate: float, seconds: float, entries: list[dict], answered: dict[str, float],
          window_end: float, drained: float, cpu: dict[str, float], instances: int) -> list[Row]:
    declared = [e for e in entries if e["ok"]]
    # An entry never acknowledged counts with the time waited for it (a lower bound).
    latencies = sorted(1000 * (answered.get(e["dossier"], drained) - e["sent_at"]) for e in declared)
    # From the first entry sent to the last answered, never shorter than the schedule itself.
    window = max(window_end - min(e["sent_at"] for e in entries), len(entries) / rate)
    achieved = len(declared) / window
    backlog = sum(1 for e in declared if answered.get(e["dossier"], math.inf) > window_end)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    at_target = not context.quick and rate >= TARGET_RATE and seconds >= TARGET_SECONDS
    http = sorted(e["http_ms"] for e in entries)
    details = {"instances": instances, "rate_asked": rate, "seconds": seconds, "entries": len(entries), "errors": len(entries) - len(declared),
               "never_acknowledged": sum(1 for e in declared if e["dossier"] not in answered),
               "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "max_ms": round(latencies[-1], 1) if latencies else None,
               "achieved_rate": round(achieved, 2), "backlog_at_end": backlog, "window_s": round(window, 2),
               "acknowledged_in_window_per_s": round(sum(1 for e in declared if answered.get(e["dossier"], math.inf) <= window_end) / window, 2),
               "drain_s": round(max(answered.values(), default=window_end) - window_end, 2),
               "entry_http_p50_ms": round(percentile(http, 0.5), 1), "entry_http_p99_ms": round(percentile(http, 0.99), 1),
               "cpu_ms_per_entry": cpu,
               "load_average": os.getloadavg()}
    of = f", {instances} instances" if instances > 1 else ""
    return [
        Row(f"entry → AGORA acknowledged, p99{of}", context.database, p99, "ms",
            f"≤ {TARGET_P99_MS:,.0f} ms at {TARGET_RATE:.0f} entries/s for {TARGET_SECONDS:.0f} s",
            met=p99 <= TARGET_P99_MS and achieved >= 0.95 * TARGET_RATE if at_target else None, details=details),
        Row(f"entry → AGORA acknowledged, p50{of}", context.database, p50, "ms", "—", met=None, details=details),
        Row(f"entries declared ({rate:g}/s asked{of})", context.database, achieved, "entries/s",
            f"≥ {TARGET_RATE:.0f} entries/s", met=achieved >= 0.95 * TARGET_RATE if at_target else None, details=details),
        Row(f"AGORA backlog at end of entries{of}", context.database, backlog, "flows", "≈ 0 (keeps up)",
            met=backlog <= rate if at_target else None, details=details),
    ]


SCENARIO = Scenario("latency", "entry declared → AGORA acknowledged at a steady rate of entries", run)
