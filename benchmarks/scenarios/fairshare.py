"""Fair share: the p99 of a normal request (sessions' `GET /programmes`) while 20 clients ask for
the heaviest report (`GET /indicators` over the Region's files), against the same request on
the idle service. Target (docs/security.md, "Fair share"): p99 ≤ 100 ms under that load.

The 20 report clients each have their own token: the heavy-report cap (2 at once, the next
waiting up to 5 s, then 503) and each client's budget (429) are what keep the normal request
fast; their answers are counted by status in the row's details."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import httpx
from pacte_common.auth import OrgKind
from pacte_common.db import create_engine, migrate, session_factory
from pacte_tools.broker import free_port
from pacte_tools.dev_issuer import mint_token
from sessions.main import MIGRATIONS
from sessions.settings import SessionsSettings
from sqlalchemy import insert, text

from benchmarks.core import Context, Row, Scenario, closed_loop, uvicorn_process
from benchmarks.scenarios.indicators import _rows

REPORT_CLIENTS = 20
REPORT = "/indicators?from=2025-01-01&to=2026-12-31&compare=territory"


async def _load(url: str, files: int) -> None:
    await migrate(url, MIGRATIONS)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            for model, rows in _rows(files, random.Random(25)).items():
                for start in range(0, len(rows), 5_000):
                    await db.execute(insert(model), rows[start : start + 5_000])
            await db.commit()
            if url.startswith("postgresql"):
                await db.execute(text("ANALYZE"))
                await db.commit()
    finally:
        await engine.dispose()


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
    url = await context.database_url("sessions")
    await _load(url, files)
    settings = SessionsSettings(database_url=url)
    normal = {"Authorization": f"Bearer {mint_token(settings, OrgKind.REGION, 'region')}"}
    tokens = [mint_token(settings, OrgKind.REGION, f"report-client-{n}") for n in range(REPORT_CLIENTS)]
    port = free_port()
    env = {"PACTE_SESSIONS_DATABASE_URL": url, "PACTE_SESSIONS_RUN_BACKGROUND_TASKS": "false",
           "PACTE_SESSIONS_LOG_JSON": "false"}
    base_url = f"http://127.0.0.1:{port}"

    async def programmes(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/programmes")

    async with uvicorn_process("sessions.main:create_app", port, env, context.workdir / f"fairshare-{context.database}.log"):
        idle = await closed_loop(base_url, programmes, concurrency=1, seconds=seconds, headers=normal)
        stop, answers = asyncio.Event(), Counter()
        reports = asyncio.create_task(_reports(base_url, tokens, stop, answers))
        await asyncio.sleep(min(2.0, seconds))  # the reports are running
        started = time.perf_counter()
        loaded = await closed_loop(base_url, programmes, concurrency=1, seconds=seconds, headers=normal)
        stop.set()
        await reports
    return [Row(f"GET /programmes p99 while {REPORT_CLIENTS} clients ask for /indicators", context.database,
                round(loaded.p99_ms, 1), "ms", "≤ 100 ms", met=loaded.p99_ms <= 100 if not context.quick else None,
                baseline=round(idle.p99_ms, 1),
                details={"files": files, "idle_p50_ms": round(idle.p50_ms, 1), "loaded_p50_ms": round(loaded.p50_ms, 1),
                         "normal_errors": loaded.errors, "loaded_s": round(time.perf_counter() - started, 1),
                         "report_answers": {str(status): n for status, n in sorted(answers.items())}})]


SCENARIO = Scenario("fairshare", "a normal request's p99 while 20 clients ask for the heaviest report", run)
