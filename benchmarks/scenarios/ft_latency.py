"""Entry declared → France Travail acknowledged, in the running suite (sessions → bus → gateway →
France Travail sandbox), at a steady rate of entries: the France Travail twin of `latency`.

Files are enrolled through the sessions API with a France Travail identifier, and their AIS
left to be acknowledged; then entries are declared at a fixed rate (open loop, as in
`latency`), and each entry's latency is from the moment it was due to the `answered_at` of the
file's AES, read back from the gateway (`GET /france-travail/flows?status=acknowledged&operation=aes`).
AGORA's flows of the same files go at the same time, as in production.

Target (issue: France Travail exchanges): p99 ≤ 1 s at 20 entries/s for 60 s
(`PACTE_BENCH_FT_RATE`, `PACTE_BENCH_FT_SECONDS`; quick: 3 entries/s for 4 s)."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
import uuid
from datetime import date, datetime

import httpx
from pacte_common.auth import OrgKind
from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases

from benchmarks.core import Context, Row, Scenario, cpu_by_process, cpu_ms_per_item
from benchmarks.scenarios.http_api import SIRET, bearer, letters, new_nir
from benchmarks.scenarios.latency import (
    CONCURRENCY,
    IN_FLIGHT,
    PLACES,
    declare_entries,
    open_sessions,
    percentile,
)

TARGET_RATE, TARGET_SECONDS, TARGET_P99_MS = 20.0, 60.0, 1000.0


async def enrol(client: httpx.AsyncClient, sessions: list[str], count: int) -> list[str]:
    """`count` files of job seekers with a France Travail identifier, CONCURRENCY at a time."""
    dossiers: list[str] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            response = await client.post("/dossiers", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                "session_id": sessions[number % len(sessions)],
                "identity": {"birth_name": f"Bench-{letters(number)}", "first_names": "Léa", "nir": new_nir(),
                             "france_travail_id": f"{1_000_000 + number:07d}B"},
                "profile": {"sex": "F", "birth_date": "1995-03-10", "education_level": "v",
                            "jobseeker_category": "A", "jobseeker_registration_date": "2024-01-15"},
            })
            if response.status_code != 201:
                raise RuntimeError(f"enrolment refused {response.status_code}: {response.text[:300]}")
            dossiers.append(response.json()["id"])

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return dossiers


STAGES = ("created_at", "first_sent_at", "answered_at")  # queued by the gateway, claimed, answered


async def acknowledged(client: httpx.AsyncClient, operation: str, stages: dict | None = None) -> dict[str, float]:
    """When each file's flow of `operation` was acknowledged; `stages` also gets, per file,
    when it was queued and claimed (where an entry's time goes)."""
    answered, cursor = {}, None
    while True:
        params = {"status": "acknowledged", "operation": operation, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/france-travail/flows", params=params)
        page.raise_for_status()
        body = page.json()
        answered.update({f["dossier_id"]: datetime.fromisoformat(f["answered_at"]).timestamp() for f in body["items"]})
        if stages is not None:
            stages.update({f["dossier_id"]: [datetime.fromisoformat(f[s]).timestamp() for s in STAGES] for f in body["items"]})
        cursor = body["next_cursor"]
        if not cursor:
            return answered


FULL_READ_EVERY_S = 5.0


async def _in_queue(client: httpx.AsyncClient, operation: str) -> bool:
    """Whether a flow of `operation` is still pending or sent (one row asked for each: cheap)."""
    for status in ("pending", "sent"):
        page = await client.get("/france-travail/flows", params={"status": status, "operation": operation, "limit": 1})
        page.raise_for_status()
        if page.json()["items"]:
            return True
    return False


async def wait_acknowledged(client: httpx.AsyncClient, operation: str, dossiers: list[str], timeout_s: float,
                            stages: dict | None = None) -> dict[str, float]:
    """Waits until every file's flow of `operation` is acknowledged. The whole list (every
    acknowledged flow, a heavy read for the gateway) is read at most once a second when the
    queue of that operation looks empty, else every FULL_READ_EVERY_S: the figures come from `answered_at`,
    so reading less often changes nothing in them, and the bench's own reads do not compete
    with the gateway's dispatchers while the backlog drains."""
    wanted, deadline, last_full = set(dossiers), time.monotonic() + timeout_s, -math.inf
    while True:
        since = time.monotonic() - last_full
        if since >= FULL_READ_EVERY_S or (since >= 1.0 and not await _in_queue(client, operation)):
            answered, last_full = await acknowledged(client, operation, stages), time.monotonic()
            if wanted <= answered.keys() or time.monotonic() > deadline:
                return answered
        rejected = (await client.get("/france-travail/flows", params={"status": "rejected", "limit": 1})).json()["items"]
        if rejected:
            raise RuntimeError(f"France Travail refused a certificate: {rejected[0]['rejection_code']}")
        await asyncio.sleep(0.5)


async def run(context: Context) -> list[Row]:
    rate = context.size(3, float(os.environ.get("PACTE_BENCH_FT_RATE", TARGET_RATE)))
    seconds = context.size(4, float(os.environ.get("PACTE_BENCH_FT_SECONDS", TARGET_SECONDS)))
    count = max(1, int(rate * seconds))
    settings = SuiteSettings.on_free_ports(context.workdir / f"ft-latency-{context.database}")
    if context.database == "postgresql":
        settings.postgres_url = context.postgres_server
        settings.database_name_prefix = f"pacte_bench_{uuid.uuid4().hex[:6]}_"
    suite, today = Suite(settings), date.today()
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
            dossiers = await enrol(organisation, sessions, count)
            registered = await wait_acknowledged(gateway, "ais", dossiers, timeout_s=120 + count)
            if not set(dossiers) <= registered.keys():
                raise RuntimeError(f"{len(set(dossiers) - registered.keys())} AIS never acknowledged")
            print(f"    {count:,} files enrolled, their AIS acknowledged", file=sys.stderr)
            pids = {name: process.pid for name, process in suite.children().items() if process is not None}
            cpu_before = cpu_by_process(pids)
            entries = await declare_entries(organisation, dossiers, rate, today)
            window_end = max(entry["answered_at"] for entry in entries)
            stages: dict[str, list[float]] = {}
            answered = await wait_acknowledged(gateway, "aes", [e["dossier"] for e in entries if e["ok"]],
                                               timeout_s=60 + 2 * count / max(rate, 1), stages=stages)
            drained = time.time()
            cpu_per_entry = cpu_ms_per_item(cpu_before, cpu_by_process(pids), len(entries))
    finally:
        await asyncio.to_thread(suite.stop)
        if settings.postgres_url:
            await drop_postgres_databases(settings.postgres_url, [suite.database_url(s) for s in SERVICES if s.has_database])
    return _rows(context, rate, seconds, entries, answered, window_end, drained, stages, cpu_per_entry)


def _stage_figures(entries: list[dict], stages: dict[str, list[float]]) -> dict[str, list[float]]:
    """p50 and p99 (ms) of each step of an entry: the entry's own request, entry → AES queued by
    the gateway (sessions' commit, relay, broker, gateway consumer), queued → claimed
    (dispatcher), claimed → acknowledged (claim transaction, the call, the answer recorded)."""
    steps: dict[str, list[float]] = {"entry_request": [], "to_queued": [], "queued_to_claimed": [], "claimed_to_acknowledged": []}
    for entry in entries:
        if entry["ok"] and entry["dossier"] in stages:
            queued, claimed, answered = stages[entry["dossier"]]
            steps["entry_request"].append(1000 * (entry["answered_at"] - entry["sent_at"]))
            steps["to_queued"].append(1000 * (queued - entry["sent_at"]))
            steps["queued_to_claimed"].append(1000 * (claimed - queued))
            steps["claimed_to_acknowledged"].append(1000 * (answered - claimed))
    return {name: [round(percentile(sorted(v), 0.50), 1), round(percentile(sorted(v), 0.99), 1)] for name, v in steps.items()}


def _rows(context: Context, rate: float, seconds: float, entries: list[dict], answered: dict[str, float],
          window_end: float, drained: float, stages: dict[str, list[float]], cpu_per_entry: dict[str, float]) -> list[Row]:
    declared = [e for e in entries if e["ok"]]
    latencies = sorted(1000 * (answered.get(e["dossier"], drained) - e["sent_at"]) for e in declared)
    window = max(window_end - min(e["sent_at"] for e in entries), len(entries) / rate)
    achieved = len(declared) / window
    backlog = sum(1 for e in declared if answered.get(e["dossier"], math.inf) > window_end)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    at_target = not context.quick and rate >= TARGET_RATE and seconds >= TARGET_SECONDS
    details = {"rate_asked": rate, "seconds": seconds, "entries": len(entries), "errors": len(entries) - len(declared),
               "never_acknowledged": sum(1 for e in declared if e["dossier"] not in answered),
               "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "achieved_rate": round(achieved, 2),
               "backlog_at_end": backlog, "load_average": os.getloadavg(),
               "steps_p50_p99_ms": _stage_figures(declared, stages),
               "cpu_ms_per_entry": cpu_per_entry}  # entries declared → the last AES acknowledged
    return [
        Row("entry → France Travail acknowledged, p99", context.database, p99, "ms",
            f"≤ {TARGET_P99_MS:,.0f} ms at {TARGET_RATE:.0f} entries/s for {TARGET_SECONDS:.0f} s",
            met=p99 <= TARGET_P99_MS and achieved >= 0.95 * TARGET_RATE if at_target else None, details=details),
        Row("entry → France Travail acknowledged, p50", context.database, p50, "ms", "—", met=None, details=details),
    ]


SCENARIO = Scenario("ft_latency", "entry declared → France Travail acknowledged at a steady rate of entries", run)
