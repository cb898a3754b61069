"""Fair share: the p99 of a normal request (sessions' `GET /programmes`) while 20 clients ask for
the heaviest report sessions serves (`GET /indicators/results` over the Region's files; `GET
/indicators` is insights' since the read side became a service, docs/insights.md), against the same request on
the idle service. Target (docs/security.md, "Fair share"): p99 ≤ 100 ms under that load.

The 20 report clients each have their own token: the heavy-report cap (2 at once, the next
waiting up to 5 s, then 503) and each client's budget (429) are what keep the normal request
fast; their answers are counted by status in the row's details."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import httpx
from pacte_common.auth import OrgKind
from pacte_common.db import create_engine, migrate, session_factory
from pacte_tools.broker import free_port
from pacte_tools.dev_issuer import mint_token
from sessions.db.models import Action, AttendanceStatement, Dossier, Programme, TrainingSession
from sessions.db.satisfaction import SatisfactionReview
from sessions.domain.indicators import profile_facts
from sessions.main import MIGRATIONS
from sessions.settings import SessionsSettings
from sqlalchemy import insert, text

from benchmarks.core import Context, Row, Scenario, closed_loop, uvicorn_process

REPORT_CLIENTS = 20
REPORT = "/indicators/results?from=2025-01-01&to=2026-12-31"


def _rows(files: int, rng: random.Random) -> dict:
    programmes = [dict(id=uuid.uuid4(), code=c, name=c, pillar=p, funder="region", remuneration_approved=True, tension_sector=False,
                       agora_category="standard", delegated_to_france_travail=False, version=1)
                  for c, p in (("PREPA", "prepa"), ("VISA", "visa"))]
    actions = [dict(id=uuid.uuid4(), programme_id=programmes[i % 2]["id"], organisation_siret=f"{10000000000000 + i}", title="t",
                    certifying=True, hours_in_centre=Decimal(400), hours_in_company=Decimal(70), hourly_price=Decimal(12), departement=["44", "49", "53", "72", "85"][i % 5],
                    modules=[], skill_blocks=[], version=1) for i in range(50)]
    sessions = [dict(id=uuid.uuid4(), action_id=actions[i % 50]["id"], start_date=date(2025, 1, 6) + timedelta(days=7 * (i % 80)),
                     end_date=date(2025, 6, 27) + timedelta(days=7 * (i % 80)), places=600, recruitment_state="open",
                     information_meetings=[], territory_code=f"T{i % 10}", version=1) for i in range(200)]
    dossiers, statements, reviews = [], [], []
    for i in range(files):
        session = sessions[i % 200]
        entry = session["start_date"] + timedelta(days=rng.randrange(20))
        exited = rng.random() < 0.6
        profile = {"sex": rng.choice(("F", "M")), "birth_date": f"{rng.randrange(1960, 2006)}-0{rng.randrange(1, 10)}-1{rng.randrange(10)}",
                   "education_level": rng.choice(["v", "iv", "iii"]), "jobseeker_registration_date": "2023-05-02",
                   "disabled_worker": rng.random() < 0.1, "qpv": rng.random() < 0.2}
        dossiers.append(dict(  # the profile and its indicator columns, as the enrolment writes them
            id=uuid.uuid4(), session_id=session["id"], person_id=uuid.uuid4(), status="exited" if exited else "in_training",
            profile=profile, **profile_facts(profile),
            entry_date=entry, exit_date=entry + timedelta(days=rng.randrange(30, 150)) if exited else None,
            exit_kind=rng.choice(["completed", "dropout"]) if exited else None, created_by="bench", version=1, skill_blocks_obtained=[],
        ))
        if i % 3 == 0:
            statements.append(dict(id=uuid.uuid4(), dossier_id=dossiers[-1]["id"], month=entry.strftime("%Y-%m"), version=1, current=True,
                                   planned_hours=Decimal(140), attended_hours=Decimal(130), justified_absence_hours=Decimal(0),
                                   unjustified_absence_hours=Decimal(10), in_company_hours=Decimal(0), recorded_by="bench"))
        if i % 5 == 0:
            marks = {m: Decimal(rng.randrange(1, 6)) for m in ("overall", "accueil", "contenu", "equipe_formateurs", "moyens_materiels", "accompagnement")}
            reviews.append(dict(review_id=f"b{i}", action_id=session["action_id"], session_id=session["id"], organisation_siret="10000000000000",
                                review_date=entry + timedelta(days=160), imported_by="bench", **marks))
    return {Programme: programmes, Action: actions, TrainingSession: sessions, Dossier: dossiers,
            AttendanceStatement: statements, SatisfactionReview: reviews}


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
    return [Row(f"GET /programmes p99 while {REPORT_CLIENTS} clients ask for /indicators/results", context.database,
                round(loaded.p99_ms, 1), "ms", "≤ 100 ms", met=loaded.p99_ms <= 100 if not context.quick else None,
                baseline=round(idle.p99_ms, 1),
                details={"files": files, "idle_p50_ms": round(idle.p50_ms, 1), "loaded_p50_ms": round(loaded.p50_ms, 1),
                         "normal_errors": loaded.errors, "loaded_s": round(time.perf_counter() - started, 1),
                         "report_answers": {str(status): n for status, n in sorted(answers.items())}})]


SCENARIO = Scenario("fairshare", "a normal request's p99 while 20 clients ask for the heaviest report", run)
