"""The public search (docs/public-search.md), served by insights: the p99 of `GET /public/sessions`
on 20,000 open sessions and 100,000 ANOTEA reviews, with a mix of the queries a portal sends
(keywords, a place and a radius, codes, dates and places left, the next page), against insights
in one uvicorn worker; and the import of an LHEO feed of 5,000 sessions into sessions
(`POST /catalogue/lheo`, then the same file again, unchanged), with the time until insights has
heard it (every session of the feed found by the search, on an embedded broker). Targets: p99 ≤
100 ms; import ≤ 10 s.

The search's data are bulk-inserted into insights' read models (the subject is the read) and the
public index is built by insights' own function; the feed is written by sessions' LHEO export
(valid LHEO 2.3)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
from insights.db.models import Action, Programme, SatisfactionReview, TrainingSession
from insights.db.public_search import refresh_offers
from insights.main import MIGRATIONS as INSIGHTS_MIGRATIONS
from pacte_common.auth import OrgKind
from pacte_common.contracts.sessions import OfferDetails, TrainingPlace
from pacte_common.db import create_engine, migrate, session_factory
from pacte_tools.broker import free_port, start_tansu, stop_process
from pacte_tools.dev_issuer import mint_token
from sessions.domain.lheo_export import ExportedAction, ExportedSession, build_document
from sessions.main import MIGRATIONS
from sessions.settings import SessionsSettings
from sqlalchemy import insert, text

from benchmarks.core import Context, Row, Scenario, closed_loop, uvicorn_process, with_cpu

TODAY = date.today()
TITLES = [
    ("Agent de propreté et d'hygiène", "Acquérir les techniques de nettoyage et d'hygiène des locaux", "42811", "K2204", "343"),
    ("Titre professionnel plaquiste", "Obtenir la qualification de plaquiste pour un accès à l'emploi", "22403", "F1604", "233"),
    ("Aide-soignant", "Préparer le diplôme d'État d'aide-soignant et les soins en établissement", "43436", "J1501", "331"),
    ("Cariste d'entrepôt", "Conduire en sécurité les chariots élévateurs et préparer les commandes", "31812", "N1101", "311"),
    ("Développeur web et web mobile", "Concevoir et développer des applications web sécurisées", "31054", "M1805", "326"),
    ("Cuisinier", "Réaliser les préparations culinaires en restauration traditionnelle", "42752", "G1602", "221"),
    ("Électricien d'équipement du bâtiment", "Installer les réseaux électriques des bâtiments", "24054", "F1602", "255"),
    ("Secrétaire assistant", "Assurer les travaux administratifs et l'accueil d'une entreprise", "35054", "M1607", "324"),
    ("Soudeur assembleur industriel", "Souder les ensembles métalliques selon les procédés industriels", "23054", "H2913", "254"),
    ("Conseiller de vente", "Accueillir, conseiller les clients et développer les ventes en magasin", "34554", "D1214", "312"),
]
MARKS = ("overall", "accueil", "contenu", "equipe_formateurs", "moyens_materiels", "accompagnement")


def _offer(sessions: int, reviews: int, rng: random.Random) -> tuple[dict, list]:
    programme = dict(id="VISA", name="VISA", pillar="visa")  # as insights' read models keep them (app/read_models.py)
    actions, index = [], []
    for i in range(sessions // 5):
        title, objective, formacode, rome, nsf = TITLES[i % len(TITLES)]
        latitude, longitude = round(rng.uniform(46.3, 48.6), 6), round(rng.uniform(-2.5, 0.9), 6)
        offer = OfferDetails(objectives=objective, rome_codes=[rome], nsf_codes=[nsf],
                             place=TrainingPlace(postcode=f"{44000 + i % 900:05d}", city=f"Commune {i % 900}", latitude=latitude,
                                                 longitude=longitude))
        actions.append(dict(id=uuid.uuid4(), programme_id=programme["id"], organisation_siret=f"{10000000000000 + i % 400}",
                            title=f"{title} {i}", formacode=formacode, certifying=True, hours_in_centre=Decimal(400),
                            hours_in_company=Decimal(70), hourly_price=Decimal(12), departement=["44", "49", "53", "72", "85"][i % 5],
                            skill_blocks=[], distance_learning=i % 7 == 0, version=1))
        index.append((actions[-1]["id"], actions[-1]["title"], formacode, offer))
    rows = [dict(id=uuid.uuid4(), action_id=actions[i % len(actions)]["id"], places=12, places_taken=rng.randrange(13),
                 start_date=TODAY + timedelta(days=rng.randrange(-60, 300)), recruitment_state="open", cancelled=False,
                 information_meetings=[(TODAY + timedelta(days=rng.randrange(30))).isoformat()], version=1) for i in range(sessions)]
    for row in rows:
        row["end_date"] = row["start_date"] + timedelta(days=120)
    marks = [dict(review_id=f"r{i}", action_id=rows[i % len(rows)]["action_id"], session_id=rows[i % len(rows)]["id"],
                  organisation_siret=f"{10000000000000 + (i % len(actions)) % 400}", review_date=TODAY - timedelta(days=rng.randrange(700)),
                  **{m: Decimal(rng.randrange(1, 6)) for m in MARKS}) for i in range(reviews)]
    return {Programme: [programme], Action: actions, TrainingSession: rows, SatisfactionReview: marks}, index


async def _load(url: str, sessions: int, reviews: int) -> None:
    """insights' read models as its consumers would have built them from the catalogue and review events."""
    await migrate(url, INSIGHTS_MIGRATIONS)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            tables, index = _offer(sessions, reviews, random.Random(24))
            for model, rows in tables.items():
                for start in range(0, len(rows), 5_000):
                    await db.execute(insert(model), rows[start : start + 5_000])
            for start in range(0, len(index), 1_000):
                await refresh_offers(db, index[start : start + 1_000])
            await db.commit()
            if url.startswith("postgresql"):
                await db.execute(text("ANALYZE"))
                await db.commit()
    finally:
        await engine.dispose()


QUERIES = [
    {"q": "plaquiste"}, {"q": "soins aide-soignant"}, {"q": "développeur web", "near": "47.2184,-1.5536", "radius_km": 30},
    {"near": "47.4784,-0.5632", "radius_km": 20}, {"rome": "F1604"}, {"formacode": "42811", "places_left": "true"},
    {"start_from": (TODAY + timedelta(days=30)).isoformat(), "start_to": (TODAY + timedelta(days=90)).isoformat()},
    {"q": "cuisine", "distance_learning": "false"}, {"nsf": "331", "near": "48.0061,0.1996", "radius_km": 50}, {},
]


def feed(sessions: int) -> bytes:
    """An LHEO 2.3 feed of `sessions` sessions, five per action, one action per formation."""
    actions = []
    for i in range(sessions // 5):
        title, objective, formacode, rome, nsf = TITLES[i % len(TITLES)]
        actions.append(ExportedAction(
            key=f"A-{i}", programme_code="VISA", organisation_siret="12345678900015", title=f"{title} {i}", rncp_code=None,
            formacode=formacode, certifying=True, hours_in_centre=Decimal(400), hours_in_company=Decimal(70), weekly_hours=Decimal(35),
            hourly_price=Decimal("12.50"), part_time=False, distance_learning=False, permanent_entries=False, modules=[], skill_blocks=[],
            departement="44", territory_code=None,
            details={"objectif": objective, "codes": {"rome": [rome], "nsf": [nsf]},
                     "adresse": {"lignes": ["1 rue de la Formation"], "codepostal": "44000", "ville": "Nantes", "latitude": "47.218400",
                                 "longitude": "-1.553600"}},
            sessions=[ExportedSession(key=f"S-{i}-{n}", start_date_lheo=(TODAY + timedelta(days=30 * n)).strftime("%Y%m%d"),
                                      end_date_lheo=(TODAY + timedelta(days=30 * n + 120)).strftime("%Y%m%d"), places=12, places_left=12,
                                      recruitment_state="open", information_meetings=[]) for n in range(5)],
        ))
    return build_document(actions)


async def _search(base_url: str, seconds: float) -> tuple:
    async def one(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.get("/public/sessions", params=QUERIES[n % len(QUERIES)])

    return await closed_loop(base_url, one, concurrency=1, seconds=seconds)


async def _import(base_url: str, region: dict, content: bytes, after_first=None) -> tuple[float, float, list, float | None]:
    """The feed imported twice; `after_first()` (awaited after the first import) is timed from its start."""
    async with httpx.AsyncClient(base_url=base_url, timeout=600, headers=region) as client:
        programme = {"code": "VISA", "name": "VISA", "pillar": "visa", "funder": "region", "remuneration_approved": True,
                     "tension_sector": False, "agora_category": "standard", "delegated_to_france_travail": False}
        created = await client.post("/programmes", json=programme)
        assert created.status_code == 201, created.text[:500]
        timings, counts, until = [], [], None
        for run in range(2):  # the first creates everything, the second finds everything unchanged
            started = time.perf_counter()
            response = await client.post("/catalogue/lheo", content=content, headers={"Content-Type": "application/xml"})
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200 and not response.json()["counts"]["rejected"], response.text[:500]
            counts.append(response.json()["counts"])
            if run == 0 and after_first is not None:
                await after_first()
                until = time.perf_counter() - started
    return timings[0], timings[1], counts, until


async def _heard(insights_url: str, sessions: int, timeout_s: float = 600) -> None:
    """Until insights has consumed the import: every session of the feed is found by the search."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=insights_url, timeout=60) as client:
        while True:
            found, cursor = 0, None
            while True:
                page = (await client.get("/public/sessions", params={"limit": 100, **({"cursor": cursor} if cursor else {})})).json()
                found += len(page["items"])
                cursor = page["next_cursor"]
                if not cursor:
                    break
            if found >= sessions:
                return
            assert time.monotonic() < deadline, f"insights found {found} of the feed's {sessions} sessions after {timeout_s} s"
            await asyncio.sleep(0.2)


def _env(prefix: str, database_url: str, **more: str) -> dict[str, str]:
    return {f"PACTE_{prefix}_DATABASE_URL": database_url, f"PACTE_{prefix}_LOG_JSON": "false",
            f"PACTE_{prefix}_RATE_LIMITS": '{"reports": "60/minute", "public": "1000000/minute", "signing": "1200/minute"}',
            **{f"PACTE_{prefix}_{name.upper()}": value for name, value in more.items()}}


async def _search_row(context: Context, sessions: int, reviews: int, seconds: float) -> Row:
    url = await context.database_url("insights")
    await _load(url, sessions, reviews)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _env("INSIGHTS", url, run_background_tasks="false", consume="false")
    async with uvicorn_process("insights.main:create_app", port, env, context.workdir / f"public-search-{context.database}.log") as process:
        # The server's CPU per request: what the service costs, whatever else the machine runs.
        load = await with_cpu(process.pid, lambda: _search(base_url, seconds))()
    return Row("GET /public/sessions p99, mixed queries", context.database, round(load.p99_ms, 1), "ms",
               "≤ 100 ms on 20,000 sessions, 100,000 reviews", met=load.p99_ms <= 100 if not context.quick else None,
               details={"sessions": sessions, "reviews": reviews, "requests": load.requests, "errors": load.errors,
                        "p50_ms": round(load.p50_ms, 1), "cpu_ms_per_request": round(load.cpu_ms_per_request, 2)})


async def _import_row(context: Context, feed_sessions: int) -> Row:
    """The feed into sessions, then until insights has heard it, both on an embedded broker."""
    content = feed(feed_sessions)
    sessions_url, insights_url = await context.database_url("sessions-import"), await context.database_url("insights-import")
    await migrate(sessions_url, MIGRATIONS)
    await migrate(insights_url, INSIGHTS_MIGRATIONS)
    broker_port = free_port()
    broker = start_tansu("127.0.0.1", broker_port, context.workdir / f"public-broker-{context.database}.log")
    bus = {"bus__bootstrap_servers": f"127.0.0.1:{broker_port}", "bus__topic_namespace": f"bench{uuid.uuid4().hex[:6]}."}
    ports = free_port(), free_port()
    try:
        async with uvicorn_process("sessions.main:create_app", ports[0],
                                   _env("SESSIONS", sessions_url, consume_prescriptions="false", lheo_max_bytes=str(4 * len(content)), **bus),
                                   context.workdir / f"public-import-{context.database}.log") as _, \
                uvicorn_process("insights.main:create_app", ports[1], _env("INSIGHTS", insights_url, **bus),
                                context.workdir / f"public-import-insights-{context.database}.log") as _:
            settings = SessionsSettings(database_url=sessions_url)
            region = {"Authorization": f"Bearer {mint_token(settings, OrgKind.REGION, 'region')}"}
            first, again, counts, heard_s = await _import(f"http://127.0.0.1:{ports[0]}", region, content,
                                                          lambda: _heard(f"http://127.0.0.1:{ports[1]}", feed_sessions))
    finally:
        stop_process(broker)
    return Row(f"POST /catalogue/lheo, {feed_sessions:,} sessions", context.database, round(first, 2), "s", "≤ 10 s",
               met=first <= 10 if not context.quick else None,
               details={"sessions": feed_sessions, "bytes": len(content), "unchanged_again_s": round(again, 2),
                        "searchable_on_insights_s": round(heard_s, 2), "counts": counts[0], "counts_again": counts[1]})


async def run(context: Context) -> list[Row]:
    sessions, reviews, seconds = context.size(500, 20_000), context.size(2_500, 100_000), context.size(2, 20)
    return [await _search_row(context, sessions, reviews, seconds), await _import_row(context, context.size(100, 5_000))]


SCENARIO = Scenario("publicsearch", "public search p99 (insights) on 20,000 sessions and 100,000 reviews; a 5,000-session LHEO import "
                    "and until insights has heard it", run)
