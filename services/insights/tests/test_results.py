"""The result indicators, served by insights from sessions' outcome events (docs/outcomes.md,
"Result indicators"): worked by hand through both services' HTTP APIs over the real broker, then
the SQL (db/results.py, the one definition) held to an in-memory oracle on random files."""

import csv
import io
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from insights.db.models import Action, Dossier, Outcome, Programme, TrainingSession
from insights.db.results import results as sql_results
from insights.domain.indicators import IndicatorPolicy, entry_facts
from insights.domain.results import TARGET_PUBLICS, ResultFilters, horizon_cutoff
from pacte_common.clock import age_on, months_before
from pacte_common.contracts.outcomes import (
    JOBS,
    LASTING_JOBS,
    SOURCE_PRIORITY,
    Horizon,
    OutcomeSituation,
    OutcomeSource,
)
from pacte_common.db import create_engine, migrate, session_factory
from pacte_testing import new_nir

AS_OF = date(2026, 11, 30)
QUERY = "/indicators/results?from=2026-01-01&to=2026-12-31"


async def trainee(api, session_id, *, exit_date=None, headers=None, nir=None, entry="2026-01-05", **profile) -> dict:
    """A file entered on `entry` and, with `exit_date`, exited then (completed)."""
    headers = headers or api.org
    dossier = await api.enrol(session_id, headers=headers, profile=api.profile_body(**profile), nir=nir)
    await api.act(dossier["id"], "enter", {"entry_date": entry}, headers=headers)
    if exit_date:
        dossier = await api.act(dossier["id"], "exit", {"exit_date": exit_date, "kind": "completed"}, headers=headers)
    return dossier


async def build_population(api) -> dict:
    """Six people worked by hand (docs/outcomes.md): both sexes, each target public, two pillars."""
    visa = await api.catalogue(programme_code="VISA-METIERS", pillar="visa")
    prepa = await api.catalogue(programme_code="PREPA-AVENIR", pillar="prepa", departement="49", siret=api.SIRET_B,
                                end=date(2026, 3, 27))
    org_b = api.as_("training_org", api.SIRET_B)
    recent = "2025-10-01"
    nir_d = new_nir("1", "95", "06", "49")
    people = {
        "A": await trainee(api, visa["id"], exit_date="2026-03-27", sex="F", birth_date="2004-03-01", education_level="below_v",
                           jobseeker_registration_date=recent, qpv=True),
        "B": await trainee(api, visa["id"], exit_date="2026-03-27", sex="M", birth_date="1970-06-01", education_level="iii_and_above",
                           jobseeker_registration_date=recent, disabled_worker=True, qpv=False),
        "C": await trainee(api, prepa["id"], exit_date="2026-02-13", headers=org_b, sex="F", birth_date="1990-06-01",
                           education_level="iii_and_above", jobseeker_registration_date="2024-01-01", qpv=False),
        "D": await trainee(api, prepa["id"], exit_date="2026-02-13", headers=org_b, nir=nir_d, sex="M", birth_date="1995-06-01",
                           education_level="iv", jobseeker_registration_date=recent, qpv=False),
        "E": await trainee(api, visa["id"], exit_date="2026-05-29", sex="F", birth_date="1985-06-01", education_level="iii_and_above",
                           jobseeker_registration_date=recent, qpv=False),
        "F": await trainee(api, visa["id"], exit_date="2026-06-26", sex="M", birth_date="1992-01-01", education_level="iii_and_above",
                           jobseeker_registration_date=recent, qpv=False),
    }
    # D goes on from PRÉPA to VISA within 6 months (found by his NIR); still in training.
    await trainee(api, visa["id"], nir=nir_d, entry="2026-04-06", sex="M", birth_date="1995-06-01", education_level="iv",
                  jobseeker_registration_date=recent, qpv=False)
    survey = [
        {"dossier_id": people["A"]["id"], "horizon_months": 6, "situation": "permanent_job", "observed_on": "2026-09-28"},
        {"dossier_id": people["B"]["id"], "horizon_months": 6, "situation": "job_seeking", "observed_on": "2026-09-28"},
        {"dossier_id": people["D"]["id"], "horizon_months": 6, "situation": "unknown", "observed_on": "2026-08-14"},
        {"dossier_id": people["E"]["id"], "horizon_months": 6, "situation": "short_fixed_term_or_temporary", "observed_on": "2026-11-27"},
        {"dossier_id": people["F"]["id"], "horizon_months": 3, "situation": "permanent_job", "observed_on": "2026-09-28"},
    ]
    await api.ok("POST", "/outcomes/imports", api.region, 201, json={"lines": survey})
    c_line = {"dossier_id": people["C"]["id"], "horizon_months": 6, "situation": "training", "observed_on": "2026-08-14"}
    await api.ok("POST", "/outcomes/imports?source=france_travail", api.region, 201, json={"lines": [c_line]})
    # The organisation says E has a permanent job; the survey's answer counts first.
    await api.ok("POST", f"/dossiers/{people['E']['id']}/outcomes", api.org, 201,
                 json={"horizon_months": 6, "situation": "permanent_job", "observed_on": "2026-11-02"})
    return people


def figure(group: dict, name: str) -> tuple:
    value = group[name]
    return (value["numerator"], value["denominator"], value["value"], value["response_rate"])


async def test_result_indicators_worked_by_hand(sessions, insights, clock):
    clock.today = AS_OF
    await build_population(sessions)
    # Every outcome heard: 4 respondents at 6 months, F's answer at 3 months, D's VISA entry.
    results = await insights.until(QUERY, insights.region, lambda body: body["all"]["respondents"] == 4 and body["prepa_to_visa"]["numerator"] == 1,
                                   "the outcome events reached insights")
    # Horizon 6 reached for A, B, C, D, E (F left on 26 June); answers from A, B, C, E (D: unknown).
    everyone = results["all"]
    assert (everyone["population"], everyone["respondents"], everyone["response_rate"]) == (5, 4, 0.8)
    assert figure(everyone, "employment") == (2, 4, 0.5, 0.8)  # A permanent, E short fixed-term (survey over organisation)
    assert figure(everyone, "lasting_employment") == (1, 4, 0.25, 0.8)
    assert figure(everyone, "training") == (1, 4, 0.25, 0.8)
    assert everyone["employment"]["low_base"] is True  # 4 answers < 10
    women, men = results["by_sex"]["F"], results["by_sex"]["M"]
    assert figure(women, "employment") == (2, 3, 0.6667, 1.0) and figure(women, "lasting_employment") == (1, 3, 0.3333, 1.0)
    assert figure(men, "employment") == (0, 1, 0.0, 0.5) and men["population"] == 2
    publics = results["by_public"]
    assert list(publics) == sorted(TARGET_PUBLICS)
    assert figure(publics["disabled_workers"], "employment") == (0, 1, 0.0, 1.0)
    assert figure(publics["seniors"], "employment") == (0, 1, 0.0, 1.0)
    assert figure(publics["under_26"], "lasting_employment") == (1, 1, 1.0, 1.0)
    assert figure(publics["qpv"], "employment") == (1, 1, 1.0, 1.0)
    assert figure(publics["low_qualified"], "employment") == (1, 1, 1.0, 0.5)  # A answered, D did not
    assert figure(publics["long_term_jobseekers"], "training") == (1, 1, 1.0, 1.0)
    assert figure(results["by_pillar"]["visa"], "employment") == (2, 3, 0.6667, 1.0)
    assert figure(results["by_pillar"]["prepa"], "training") == (1, 1, 1.0, 0.5)
    assert figure(results["by_programme"]["VISA-METIERS"], "employment") == (2, 3, 0.6667, 1.0)
    assert set(results["by_programme"]) == {"VISA-METIERS", "PREPA-AVENIR"}
    assert results["by_departement"]["49"]["population"] == 2 and results["by_departement"]["44"]["population"] == 3
    # PRÉPA leavers C and D: D entered a VISA within 6 months.
    assert results["prepa_to_visa"] == {"numerator": 1, "denominator": 2, "value": 0.5,
                                        "by_sex": {"F": {"numerator": 0, "denominator": 1, "value": 0.0},
                                                   "M": {"numerator": 1, "denominator": 1, "value": 1.0}}}
    assert results["as_of"] == AS_OF.isoformat() and results["horizon_months"] == 6

    three = await insights.ok("GET", "/indicators/results?horizon=3", insights.region)
    assert (three["all"]["population"], three["all"]["respondents"]) == (6, 1) and three["all"]["response_rate"] == 0.1667
    visa_44 = await insights.ok("GET", "/indicators/results?programme=VISA-METIERS&departement=44", insights.region)
    assert visa_44["all"]["population"] == 3  # by sex within a programme
    assert figure(visa_44["by_sex"]["F"], "employment") == (2, 2, 1.0, 1.0) and figure(visa_44["by_sex"]["M"], "employment") == (0, 1, 0.0, 1.0)
    assert (await insights.ok("GET", "/indicators/results?territory=TS-44-NANTES", insights.region))["all"]["population"] == 0
    # Once the Region publishes its territories, the sessions are placed (here by their actions' code).
    await sessions.ok("PUT", "/territories", sessions.region, 201, json={"source": "test fixture, not the Region's list", "territories": [
        {"code": "TS-44-NANTES", "name": "Nantes (test fixture)", "departement": "44", "places": [{"postcode": "44000"}]}]})
    placed = await insights.until("/indicators/results?territory=TS-44-NANTES", insights.region, lambda body: body["all"]["population"] == 5,
                                  "the placed sessions reached insights")
    assert figure(placed["by_territory"]["TS-44-NANTES"], "employment") == (2, 4, 0.5, 0.8)
    assert (await insights.ok("GET", "/indicators/results?territory=TS-00-NOWHERE", insights.region))["all"]["population"] == 0
    own = await insights.ok("GET", "/indicators/results", insights.as_("training_org", insights.SIRET_B))
    assert own["all"]["population"] == 2 and own["filters"]["organisation"] == insights.SIRET_B

    response = await insights.client.get("/indicators/results", headers={**insights.region, "Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = {(r["breakdown"], r["group"], r["indicator"]): r for r in csv.DictReader(io.StringIO(response.text))}
    assert rows[("sex", "F", "employment")] == {
        "breakdown": "sex", "group": "F", "indicator": "employment", "numerator": "2", "denominator": "3",
        "value": "0.6667", "population": "3", "respondents": "3", "response_rate": "1.0000",
    }
    for caller, expected in ((insights.as_("prescriber", insights.PRESCRIBER), 403), (insights.as_("paying_agency", "ASP"), 403),
                             (sessions.region, 401)):  # a token for sessions is not one for insights
        assert (await insights.client.get("/indicators/results", headers=caller)).status_code == expected
    assert (await insights.client.get(f"/indicators/results?organisation={insights.SIRET_B}", headers=insights.org)).status_code == 403
    bad = await insights.client.get("/indicators/results?from=2026-12-31&to=2026-01-01", headers=insights.region)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.to"
    assert (await sessions.client.get("/indicators/results", headers=sessions.region)).status_code == 404  # sessions no longer serves it


# ---------------------------------------------------------------- the SQL against an in-memory oracle (tests only)


def months_after(day: date, months: int) -> date:
    return months_before(day, -months)


@dataclass(frozen=True)
class Leaver:
    """One file as the oracle reads it: its facts in plain Python, its outcomes by (horizon, source)."""

    person_id: uuid.UUID
    sex: str
    birth_date: date
    registered: date | None
    education_level: str | None
    disabled: bool
    qpv: bool
    pillar: str
    programme: str
    departement: str
    territory: str | None
    organisation: str
    status: str
    entry_date: date | None
    exit_date: date | None
    outcomes: dict

    def situation_at(self, horizon: int) -> OutcomeSituation | None:
        for source in SOURCE_PRIORITY:
            situation = self.outcomes.get((horizon, source.value))
            if situation is not None and situation is not OutcomeSituation.UNKNOWN:
                return situation
        return None

    def publics(self, policy: IndicatorPolicy) -> set[str]:
        at = self.entry_date
        tests = {
            "disabled_workers": self.disabled, "low_qualified": self.education_level in policy.low_qualified_levels,
            "long_term_jobseekers": self.registered is not None and self.registered <= months_before(at, policy.long_term_months),
            "seniors": age_on(self.birth_date, at) >= policy.senior_age, "under_26": age_on(self.birth_date, at) < policy.young_age_limit,
            "qpv": self.qpv,
        }
        return {name for name, belongs in tests.items() if belongs}


def oracle_group(files: list[Leaver], horizon: int) -> tuple:
    situations = [s for s in (f.situation_at(horizon) for f in files) if s is not None]
    return (len(files), len(situations), sum(s in JOBS for s in situations), sum(s in LASTING_JOBS for s in situations),
            sum(s is OutcomeSituation.TRAINING for s in situations))


def oracle(files: list[Leaver], f: ResultFilters, as_of: date, policy: IndicatorPolicy, window: int) -> dict:
    def exited_in(day):
        return (f.period_from is None or day >= f.period_from) and (f.period_to is None or day <= f.period_to)

    scoped = [x for x in files if x.status == "exited" and exited_in(x.exit_date)
              and (f.programme is None or x.programme == f.programme) and (f.departement is None or x.departement == f.departement)
              and (f.territory is None or x.territory == f.territory) and (f.organisation is None or x.organisation == f.organisation)]
    h = int(f.horizon)
    reached = [x for x in scoped if months_after(x.exit_date, h) <= as_of]
    by: dict = {"sex": {"F": [], "M": []}, "public": {p: [] for p in TARGET_PUBLICS}}
    for x in reached:
        by["sex"].setdefault(x.sex, []).append(x)
        for public in x.publics(policy):
            by["public"][public].append(x)
        for name, key in (("pillar", x.pillar), ("programme", x.programme), ("departement", x.departement),
                          ("territory", x.territory or "(none)")):
            by.setdefault(name, {}).setdefault(key, []).append(x)
    people = {x.person_id: x.sex for x in scoped}
    first_exit: dict = {}
    for x in files:
        if x.person_id in people and x.pillar == "prepa" and x.status == "exited" and exited_in(x.exit_date):
            first_exit[x.person_id] = min(first_exit.get(x.person_id, x.exit_date), x.exit_date)
    went_on = {p for p, exited in first_exit.items() if any(
        y.person_id == p and y.pillar == "visa" and y.status != "cancelled" and y.entry_date is not None
        and exited <= y.entry_date <= months_after(exited, window) for y in files)}
    flow = {sex: (sum(1 for p in first_exit if people[p] == sex), sum(1 for p in went_on if people[p] == sex)) for sex in ("F", "M")}
    return {"all": oracle_group(reached, h),
            "by": {name: {key: oracle_group(group, h) for key, group in groups.items()} for name, groups in by.items()},
            "flow": flow}


def _as_tuple(group) -> tuple:
    return (group.population, group.respondents, group.employed, group.lasting, group.in_training)


EDGE_DAYS = [date(2025, 8, 31), date(2026, 2, 28), date(2025, 5, 31), date(2025, 11, 30), date(2026, 3, 31)]


def _day(rng: random.Random, start: date, span: int) -> date:
    return rng.choice(EDGE_DAYS) if rng.random() < 0.2 else start + timedelta(days=rng.randrange(span))


def _build(rng: random.Random):
    programmes = [Programme(id=code, name=code, pillar=pillar) for code, pillar in (("PREPA", "prepa"), ("VISA", "visa"))]
    actions = [Action(id=uuid.uuid4(), programme_id=programmes[i % 2].id, organisation_siret=rng.choice(["11111111100011", "22222222200022"]),
                      title="t", certifying=True, hours_in_centre=300, hours_in_company=0, hourly_price=10,
                      departement=rng.choice(["44", "49"])) for i in range(4)]
    sessions = [TrainingSession(id=uuid.uuid4(), action_id=actions[i % 4].id, start_date=date(2025, 1, 6), end_date=date(2025, 6, 30),
                                places=10, recruitment_state="open", territory_code=rng.choice(["T1", "T2", None])) for i in range(8)]
    by_action = {a.id: a for a in actions}
    pillar_of = {p.id: p.pillar for p in programmes}
    people = [uuid.uuid4() for _ in range(120)]
    sex_of = {person: rng.choice("FM") for person in people}
    dossiers, outcomes, leavers = [], [], []
    for _ in range(260):
        session = rng.choice(sessions)
        action = by_action[session.action_id]
        entry = _day(rng, date(2025, 1, 6), 500)
        status = rng.choice(["in_training", "exited", "exited", "exited", "cancelled"])
        exit_date = _day(rng, entry, 200) if status == "exited" else None
        if exit_date is not None and exit_date < entry:
            exit_date = entry
        birth = date(1960, 1, 1) + timedelta(days=rng.randrange(18000))
        registered = _day(rng, date(2023, 1, 1), 1000) if rng.random() < 0.7 else None
        registered = registered if registered is None or registered <= entry else None
        person = rng.choice(people)
        sex, level = sex_of[person], rng.choice(["below_v", "v", "iv", "iii_and_above", None])
        disabled, qpv = rng.random() < 0.2, rng.random() < 0.3
        dossier = Dossier(id=uuid.uuid4(), session_id=session.id, person_id=person, sex=sex, education_level=level,
                          disabled_worker=disabled, qpv=qpv, **entry_facts(birth, registered, entry), status=status,
                          entry_date=entry, exit_date=exit_date, skill_blocks_obtained=[])
        recorded = {}
        if exit_date is not None:
            for horizon in (3, 6, 12):
                for source in OutcomeSource:
                    if rng.random() < 0.3:
                        situation = rng.choice(list(OutcomeSituation))
                        recorded[(horizon, source.value)] = situation
                        outcomes.append(Outcome(id=uuid.uuid4(), dossier_id=dossier.id, person_id=dossier.person_id, horizon_months=horizon,
                                                situation=situation.value, observed_on=exit_date, source=source.value, version=1))
        dossiers.append(dossier)
        leavers.append(Leaver(dossier.person_id, sex, birth, registered, level, disabled, qpv, pillar_of[action.programme_id],
                              action.programme_id, action.departement, session.territory_code, action.organisation_siret, status,
                              entry, exit_date, recorded))
    return [programmes, actions, sessions, dossiers, outcomes], leavers


def test_the_horizon_cutoff_is_the_clamped_month_arithmetic():
    for as_of in (date(2027, 2, 28), date(2027, 2, 27), date(2026, 11, 30), date(2026, 12, 31), date(2024, 2, 29)):
        for horizon in (3, 6, 12):
            cutoff = horizon_cutoff(as_of, horizon)
            assert months_after(cutoff, horizon) <= as_of < months_after(cutoff + timedelta(days=1), horizon), (as_of, horizon)


async def test_sql_results_match_the_definition(database_url):
    from insights.main import MIGRATIONS

    rng = random.Random(20261207)
    rows, leavers = _build(rng)
    await migrate(database_url, MIGRATIONS)
    engine = create_engine(database_url)
    policy = IndicatorPolicy()
    try:
        async with session_factory(engine)() as db:
            for group in rows:
                db.add_all(group)
                await db.flush()
            await db.commit()
            cases = [ResultFilters(horizon=h) for h in Horizon] + [
                ResultFilters(date(2025, 3, 1), date(2025, 12, 31), horizon=Horizon.SIX_MONTHS),
                ResultFilters(programme="VISA", departement="44", horizon=Horizon.THREE_MONTHS),
                ResultFilters(territory="T1", organisation="11111111100011", horizon=Horizon.TWELVE_MONTHS),
            ]
            for filters in cases:
                for as_of in (date(2026, 2, 28), date(2026, 8, 31), date(2026, 6, 15)):
                    for window in (3, 6):
                        found = await sql_results(db, filters, as_of, policy, window)
                        expected = oracle(leavers, filters, as_of, policy, window)
                        label = (filters, as_of, window)
                        assert _as_tuple(found.all) == expected["all"], label
                        for name, groups in expected["by"].items():
                            assert {k: _as_tuple(g) for k, g in found.by[name].items()} == groups, (name, label)
                        for sex in ("F", "M"):
                            rate = found.prepa_to_visa_by_sex[sex]
                            assert (rate.denominator, rate.numerator) == expected["flow"][sex], (sex, label)
                        assert found.prepa_to_visa.denominator == sum(d for d, _ in expected["flow"].values()), label
    finally:
        await engine.dispose()
