"""Fair share: the p99 of a normal request (insights' `GET /people/{id}/skills`, one person's
files) while 20 clients ask for the heaviest report insights serves (`GET /indicators/results`
over the Region's files and their outcomes; the result indicators moved from sessions with the
read side, docs/insights.md), against the same request on the idle service. Target
(docs/security.md, "Fair share"): p99 ≤ 100 ms under that load.

The 20 report clients each have their own token: the heavy-report cap (2 at once, the next
waiting up to 5 s, then 503) and each client's budget (429) are what keep the normal request
fast; their answers are counted by status in the row's details."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import timedelta

import httpx
from insights.db.models import Dossier, Outcome
from insights.main import MIGRATIONS
from insights.settings import InsightsSettings
from pacte_common.auth import OrgKind
from pacte_common.db import create_engine, migrate, session_factory
from pacte_tools.broker import free_port
from pacte_tools.dev_issuer import mint_token
from sqlalchemy import insert, text

from benchmarks.core import Context, Row, Scenario, closed_loop, uvicorn_process
from benchmarks.scenarios.indicators import _rows as read_model_rows

REPORT_CLIENTS = 20
REPORT = "/indicators/results?from=2025-01-01&to=2026-12-31"
SITUATIONS = ("permanent_job", "short_fixed_term_or_temporary", "training", "job_seeking", "unknown")


def _rows(files: int, rng: random.Random) -> dict:
    """Insights' read models as the indicators' benchmark fills them, and an outcome at 6 months
    for two exited files in three."""
    rows = read_model_rows(files, rng)
    outcomes = [dict(id=uuid.uuid4(), dossier_id=d["id"], person_id=d["person_id"], horizon_months=6, situation=rng.choice(SITUATIONS),
                     observed_on=d["exit_date"] + timedelta(days=183), source=rng.choice(("survey", "france_travail")), version=1)
                for d in rows[Dossier] if d["exit_date"] and rng.random() < 0.66]
    return {**rows, Outcome: outcomes}


async def _load(url: str, files: int) -> str:
    """Loads the read models; returns a person's id (the normal request's)."""
    await migrate(url, MIGRATIONS)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            rows = _rows(files, random.Random(25))
            for model, batch in rows.items():
                for start in range(0, len(batch), 5_000):
                    await db.execute(insert(model), batch[start : start + 5_000])
            await db.commit()
            if url.startswith("postgresql"):
                await db.execute(text("ANALYZE"))
                await db.commit()
    finally:
        await engine.dispose()
    return str(rows[Dossier][len(rows[Dossier]) // 2]["person_id"])


async def _reports(base_url: str, tokens: list[str], stop: asyncio.Event, answers: Counter) -> None:
    async def one_client(token: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
            while not stop.is_set():
                response = await client.get(REPORT)
                answers[response.status_code] += 1
                if response.status_code in (429, 503):  # a well-behaved client honours Retry-After
                    await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 2))

    await asyncio.gather(*(one_client(token) for token in tokens))


async def run(context: Context) -> list[Row]:
    files, seconds = context.size(300, 20_000), context.size(2, 15)
    url = await context.database_url("insights")
    person = await _load(url, files)
    settings = InsightsSettings(database_url=url)
    normal = {"Authorization": f"Bearer {mint_token(settings, OrgKind.REGION, 'region')}"}
    tokens = [mint_token(settings, OrgKind.REGION, f"report-client-{n}") for n in range(REPORT_CLIENTS)]
    port = free_port()
    env = {"PACTE_INSIGHTS_DATABASE_URL": url, "PACTE_INSIGHTS_RUN_BACKGROUND_TASKS": "false",
           "PACTE_INSIGHTS_CONSUME": "false", "PACTE_INSIGHTS_LOG_JSON": "false"}
    base_url = f"http://127.0.0.1:{port}"

    async def passport(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get(f"/people/{person}/skills")

    async with uvicorn_process("insights.main:create_app", port, env, context.workdir / f"fairshare-{context.database}.log"):
        idle = await closed_loop(base_url, passport, concurrency=1, seconds=seconds, headers=normal)
        stop, answers = asyncio.Event(), Counter()
        reports = asyncio.create_task(_reports(base_url, tokens, stop, answers))
        await asyncio.sleep(min(2.0, seconds))  # the reports are running
        started = time.perf_counter()
        loaded = await closed_loop(base_url, passport, concurrency=1, seconds=seconds, headers=normal)
        stop.set()
        await reports
    return [Row(f"GET /people/{{id}}/skills p99 while {REPORT_CLIENTS} clients ask for /indicators/results", context.database,
                round(loaded.p99_ms, 1), "ms", "≤ 100 ms", met=loaded.p99_ms <= 100 if not context.quick else None,
                baseline=round(idle.p99_ms, 1),
                details={"files": files, "idle_p50_ms": round(idle.p50_ms, 1), "loaded_p50_ms": round(loaded.p50_ms, 1),
                         "normal_errors": loaded.errors, "loaded_s": round(time.perf_counter() - started, 1),
                         "report_answers": {str(status): n for status, n in sorted(answers.items())}})]


SCENARIO = Scenario("fairshare", "a normal request's p99 while 20 clients ask for the heaviest report", run)
