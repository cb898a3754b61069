"""GET /indicators on 100,000 training files: the time insights' SQL (over its read models)
aggregation takes for the whole Region, everyone and by sex, with satisfaction and the
comparison by territory — the dozen queries one request makes. Target: < 1 s on PostgreSQL.

The files are bulk-inserted (no HTTP: the subject is the read), over 200 sessions in 10
territories, with attendance for a third of them and 20,000 ANOTEA reviews."""

from __future__ import annotations

import random
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

from insights.db.indicators import Scope, aggregate_all, compare, satisfaction
from insights.db.models import (
    Action,
    AttendanceStatement,
    Dossier,
    Programme,
    SatisfactionReview,
    TrainingSession,
)
from insights.domain.indicators import SEXES, IndicatorPolicy, Period, entry_facts
from insights.main import MIGRATIONS
from pacte_common.db import create_engine, migrate, session_factory
from sqlalchemy import insert, text

from benchmarks.core import Context, Row, Scenario


def _rows(files: int, rng: random.Random) -> dict:
    programmes = [dict(id=c, name=c, pillar=p) for c, p in (("PREPA", "prepa"), ("VISA", "visa"))]
    actions = [dict(id=uuid.uuid4(), programme_id=programmes[i % 2]["id"], organisation_siret=f"{10000000000000 + i}", title="t",
                    certifying=True, hours_in_centre=Decimal(400), hours_in_company=Decimal(70), hourly_price=Decimal(12),
                    departement=["44", "49", "53", "72", "85"][i % 5]) for i in range(50)]
    sessions = [dict(id=uuid.uuid4(), action_id=actions[i % 50]["id"], start_date=date(2025, 1, 6) + timedelta(days=7 * (i % 80)),
                     end_date=date(2025, 6, 27) + timedelta(days=7 * (i % 80)), places=600, recruitment_state="open",
                     cancelled=False, territory_code=f"T{i % 10}", version=1) for i in range(200)]
    dossiers, statements, reviews = [], [], []
    for i in range(files):
        session = sessions[i % 200]
        entry = session["start_date"] + timedelta(days=rng.randrange(20))
        exited = rng.random() < 0.6
        birth = date(rng.randrange(1960, 2006), rng.randrange(1, 10), 10 + rng.randrange(10))
        dossiers.append(dict(  # as the read model keeps a file: its facts on the entry date (app/read_models.py)
            id=uuid.uuid4(), session_id=session["id"], person_id=uuid.uuid4(), status="exited" if exited else "in_training",
            sex=rng.choice(SEXES), education_level=rng.choice(["v", "iv", "iii"]), disabled_worker=rng.random() < 0.1,
            qpv=rng.random() < 0.2, **entry_facts(birth, date(2023, 5, 2), entry),
            entry_date=entry, exit_date=entry + timedelta(days=rng.randrange(30, 150)) if exited else None,
            exit_kind=rng.choice(["completed", "dropout"]) if exited else None, version=1, skill_blocks_obtained=[],
        ))
        if i % 3 == 0:
            statements.append(dict(dossier_id=dossiers[-1]["id"], month=entry.strftime("%Y-%m"), version=1, current=True,
                                   attended_hours=Decimal(130), in_company_hours=Decimal(0)))
        if i % 5 == 0:
            marks = {m: Decimal(rng.randrange(1, 6)) for m in ("overall", "accueil", "contenu", "equipe_formateurs", "moyens_materiels", "accompagnement")}
            reviews.append(dict(review_id=f"b{i}", action_id=session["action_id"], session_id=session["id"], organisation_siret="10000000000000",
                                review_date=entry + timedelta(days=160), **marks))
    return {Programme: programmes, Action: actions, TrainingSession: sessions, Dossier: dossiers,
            AttendanceStatement: statements, SatisfactionReview: reviews}


async def run(context: Context) -> list[Row]:
    files = context.size(2_000, 100_000)
    url = await context.database_url("insights")
    await migrate(url, MIGRATIONS)
    engine = create_engine(url)
    try:
        factory = session_factory(engine)
        async with factory() as db:
            for model, rows in _rows(files, random.Random(14)).items():
                for start in range(0, len(rows), 5_000):
                    await db.execute(insert(model), rows[start : start + 5_000])
            await db.commit()
            # Statistics, as autovacuum keeps them on a live database. ANALYZE is transactional:
            # without its commit the statistics are rolled back and the planner guesses blind.
            await db.execute(text("ANALYZE"))
            await db.commit()
        async with factory() as db:
            policy, period = IndicatorPolicy(), Period(date(2025, 1, 1), date(2026, 12, 31))
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                await aggregate_all(db, Scope(), period, policy)
                await satisfaction(db, Scope(), period)
                await compare(db, Scope(), period, "territory")
                timings.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    best = min(timings)
    return [Row("indicators, whole Region", context.database, round(best, 3), "s", "< 1 s on 100,000 files",
                met=best < 1 if files >= 100_000 else None, details={"files": files, "runs_s": [round(t, 3) for t in timings]})]


SCENARIO = Scenario("indicators", "GET /indicators aggregated by the database on 100,000 files", run, databases=("postgresql",))
