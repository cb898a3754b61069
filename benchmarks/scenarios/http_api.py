"""`POST /prescriptions` and `GET /prescriptions/{id}` (orientation, in the running suite)
against the bare stack (benchmarks.baseline_app: FastAPI + SQLAlchemy + one INSERT / one
SELECT by id) on the same database kind, single worker each, interleaved rounds.

Targets (benchmarks/README.md): write ratio ≥ 0.50 and ≤ 4 ms of server CPU per request,
read ratio ≥ 0.80."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid

import httpx
from pacte_common.auth import OrgKind
from pacte_common.validators import nir_key
from pacte_tools.broker import free_port
from pacte_tools.dev_issuer import request_token
from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases

from benchmarks.core import (
    Context,
    Row,
    Scenario,
    closed_loop,
    interleaved,
    median_cpu,
    median_rate,
    uvicorn_process,
    with_cpu,
)

CONCURRENCY = 16
SIRET = "73282932000074"


_nir_numbers = itertools.count(1)


def new_nir() -> str:
    """A valid NIR never used before in this run (each prescription is for a new person)."""
    number = next(_nir_numbers)
    body = f"2{95 - number // 10**6 % 30:02d}0344{number % 1000:03d}{number // 1000 % 1000:03d}"
    return body + f"{nir_key(body):02d}"


def letters(number: int) -> str:
    """A name part per number: names are matched on their letters only (digits are dropped), and
    a benchmark where every person shares one name measures the look-up of namesakes instead."""
    return "".join("ABCDEFGHIJ"[int(digit)] for digit in str(number))


def prescription_body(session_id: str, number: int) -> dict:
    return {
        "session_id": session_id,
        "identity": {"birth_name": f"Bench-{letters(number)}", "first_names": "Léa", "nir": new_nir()},
        "profile": {"sex": "F", "birth_date": "1995-03-10", "education_level": "v", "jobseeker_category": "A",
                    "jobseeker_registration_date": "2024-01-15"},
        "professional_project": "Agent de propreté",
    }


def bearer(suite: Suite, kind: OrgKind, org: str, service: str) -> dict[str, str]:
    """A token from the suite's dev issuer, as a partner gets one (client credentials)."""
    token = request_token(suite.issuer_settings.issuer_url, kind.value, org, [service])
    return {"Authorization": f"Bearer {token}"}


async def open_session(suite: Suite) -> str:
    region = bearer(suite, OrgKind.REGION, "region", "sessions")
    prescriber = bearer(suite, OrgKind.PRESCRIBER, "PE-44001", "orientation")
    code = f"VISA-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=suite.url("sessions"), headers=region, timeout=30) as sessions:
        (await sessions.post("/programmes", json={"code": code, "name": f"Bench {code}", "pillar": "visa",
                                                  "remuneration_approved": True, "tension_sector": False,
                                                  "agora_category": "standard"})).raise_for_status()
        action = await sessions.post("/actions", json={
            "programme_code": code, "organisation_siret": SIRET, "title": "Agent de propreté", "hours_in_centre": "420",
            "hours_in_company": "70", "hourly_price": "12.50", "departement": "44", "weekly_hours": "35",
            "certifying": False})
        action.raise_for_status()
        session = await sessions.post("/sessions", json={"action_id": action.json()["id"], "start_date": "2027-01-04",
                                                         "end_date": "2027-06-30", "places": 1000})
        session.raise_for_status()
        session_id = session.json()["session_id"]
    async with httpx.AsyncClient(base_url=suite.url("orientation"), headers=prescriber, timeout=30) as orientation:
        for _ in range(600):  # orientation learns of the session from the catalogue topic
            if (await orientation.get(f"/sessions/{session_id}")).status_code == 200:
                return session_id
            await asyncio.sleep(0.1)
    raise RuntimeError("the session never reached orientation")


async def run(context: Context) -> list[Row]:
    settings = SuiteSettings.on_free_ports(context.workdir / f"suite-{context.database}", topic_partitions=2)
    if context.database == "postgresql":
        settings.postgres_url = context.postgres_server
        settings.database_name_prefix = f"pacte_bench_{uuid.uuid4().hex[:6]}_"
    suite = Suite(settings)
    baseline_port = free_port()
    seconds = context.size(2, 8)
    rounds = context.size(1, 3)
    try:
        await asyncio.to_thread(suite.start)
        await asyncio.to_thread(suite.wait_ready)
        session_id = await open_session(suite)
        headers = bearer(suite, OrgKind.PRESCRIBER, "PE-44001", "orientation")
        baseline_env = {"BENCH_DATABASE_URL": await context.database_url("baseline")}
        created: list[str] = []
        baseline_ids: list[str] = []

        async def post_prescription(client: httpx.AsyncClient, number: int) -> httpx.Response:
            response = await client.post("/prescriptions", json=prescription_body(session_id, number),
                                         headers={"Idempotency-Key": str(uuid.uuid4())})
            if response.status_code == 201:
                created.append(response.json()["id"])
            return response

        async def post_item(client: httpx.AsyncClient, number: int) -> httpx.Response:
            response = await client.post("/items", json={"payload": prescription_body(session_id, number)})
            if response.status_code == 201:
                baseline_ids.append(response.json()["id"])
            return response

        async with uvicorn_process("benchmarks.baseline_app:create_app", baseline_port, baseline_env,
                                   context.workdir / "baseline.log") as baseline_process:
            base_pid, project_pid = baseline_process.pid, suite.children()["orientation"].pid
            baseline_url = f"http://127.0.0.1:{baseline_port}"
            orientation_url = suite.url("orientation")
            write_base, write_project = await interleaved(
                rounds,
                with_cpu(base_pid, lambda: closed_loop(baseline_url, post_item, concurrency=CONCURRENCY, seconds=seconds)),
                with_cpu(project_pid, lambda: closed_loop(orientation_url, post_prescription, concurrency=CONCURRENCY,
                                                          seconds=seconds, headers=headers)),
            )
            read_base, read_project = await interleaved(
                rounds,
                with_cpu(base_pid, lambda: closed_loop(baseline_url, lambda c, i: c.get(f"/items/{random.choice(baseline_ids)}"),
                                                       concurrency=CONCURRENCY, seconds=seconds)),
                with_cpu(project_pid, lambda: closed_loop(orientation_url,
                                                          lambda c, i: c.get(f"/prescriptions/{random.choice(created)}"),
                                                          concurrency=CONCURRENCY, seconds=seconds, headers=headers)),
            )
    finally:
        await asyncio.to_thread(suite.stop)
        if settings.postgres_url:
            await drop_postgres_databases(settings.postgres_url, [suite.database_url(s) for s in SERVICES if s.has_database])
    return [
        _row("POST /prescriptions", context, write_base, write_project, 0.50, cpu_target_ms=4.0),
        _row("GET /prescriptions/{id}", context, read_base, read_project, 0.80),
    ]


def _row(name: str, context: Context, baseline, project, target_ratio: float, cpu_target_ms: float | None = None) -> Row:
    figure, base = median_rate(project), median_rate(baseline)
    ratio = figure / base if base else None
    cpu, base_cpu = median_cpu(project), median_cpu(baseline)
    target = f"ratio ≥ {target_ratio:.2f}" + (f", CPU ≤ {cpu_target_ms:g} ms" if cpu_target_ms else "")
    met = None if ratio is None else ratio >= target_ratio and (cpu_target_ms is None or (cpu is not None and cpu <= cpu_target_ms))
    return Row(name, context.database, figure, "req/s", target, met=met, baseline=base, ratio=ratio,
               details={"p99_ms": max(load.p99_ms for load in project),
                        "baseline_p99_ms": max(load.p99_ms for load in baseline),
                        "errors": sum(load.errors for load in project), "concurrency": CONCURRENCY,
                        # The server's CPU per request, project against bare: the ratio one free core would give.
                        "cpu_ms_per_request": cpu, "baseline_cpu_ms_per_request": base_cpu,
                        "cpu_ratio": base_cpu / cpu if cpu and base_cpu else None})


SCENARIO = Scenario("http", "orientation POST/GET against the bare FastAPI + SQLAlchemy stack", run)
