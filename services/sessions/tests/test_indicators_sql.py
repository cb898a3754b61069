"""The SQL aggregation of the indicators (db/indicators.py) agrees with their in-memory
definition (domain.indicators.aggregate_in_memory) on a few hundred random files, edge dates
included (birthdays on the entry day, 29 February, registrations exactly 12 months before).
The SQL reads the file's profile columns; the definition is fed from the JSON profile itself.
The comparison by territory and by département is held to the same definition, key by key."""

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

from pacte_common.db import create_engine, session_factory
from sessions.db.indicators import Scope, aggregate, compare
from sessions.db.models import Action, AttendanceStatement, Dossier, Programme, TrainingSession
from sessions.domain.indicators import (
    FileFacts,
    IndicatorPolicy,
    Period,
    SessionFacts,
    aggregate_in_memory,
    profile_facts,
)

EDGE_DAYS = [date(2024, 2, 29), date(2026, 2, 28), date(2026, 3, 1), date(2026, 1, 31), date(2026, 12, 31)]


def _day(rng: random.Random, start: date, span: int) -> date:
    return rng.choice(EDGE_DAYS) if rng.random() < 0.15 else start + timedelta(days=rng.randrange(span))


def _profile(rng: random.Random, entry: date | None) -> dict:
    birth = date(entry.year - rng.choice([25, 26, 50, 49]), entry.month, min(entry.day, 28)) if entry and rng.random() < 0.3 else \
        date(1960, 1, 1) + timedelta(days=rng.randrange(18000))
    registered = None
    if rng.random() < 0.7:
        registered = date(entry.year - 1, entry.month, min(entry.day, 28)) if entry and rng.random() < 0.3 else _day(rng, date(2023, 1, 1), 1200)
    return {"sex": rng.choice("FM"), "birth_date": birth.isoformat(), "education_level": rng.choice(["below_v", "v", "iv", "iii", None]),
            "jobseeker_registration_date": registered.isoformat() if registered else None,
            "disabled_worker": rng.random() < 0.2, "qpv": rng.random() < 0.3}


def _build(rng: random.Random):
    programmes = [Programme(id=uuid.uuid4(), code=code, name=code, pillar=pillar, funder="region", remuneration_approved=True,
                            tension_sector=False, agora_category="standard", delegated_to_france_travail=False)
                  for code, pillar in (("PREPA", "prepa"), ("VISA", "visa"))]
    actions = [Action(id=uuid.uuid4(), programme_id=rng.choice(programmes).id, organisation_siret=rng.choice(["11111111100011", "22222222200022"]),
                      title="t", certifying=True, hours_in_centre=Decimal("300"), hours_in_company=Decimal(rng.choice(["0", "70.5"])),
                      hourly_price=Decimal("10"), departement=rng.choice(["44", "49"]), modules=[], skill_blocks=[]) for _ in range(6)]
    sessions = []
    for _ in range(12):
        start = _day(rng, date(2025, 6, 1), 500)
        sessions.append(TrainingSession(id=uuid.uuid4(), action_id=rng.choice(actions).id, start_date=start, end_date=start + timedelta(days=rng.randrange(30, 200)),
                                        places=rng.randrange(5, 20), recruitment_state="open", information_meetings=[],
                                        territory_code=rng.choice(["T1", "T2", None])))
    people = [uuid.uuid4() for _ in range(150)]
    dossiers, statements = [], []
    for _ in range(300):
        entry = _day(rng, date(2025, 6, 1), 600) if rng.random() < 0.85 else None
        status = "enrolled" if entry is None else rng.choice(["in_training", "exited", "exited", "cancelled"])
        exit_date = entry + timedelta(days=rng.randrange(0, 200)) if status == "exited" else None
        kind = rng.choice(["completed", "dropout"]) if exit_date else None
        profile = _profile(rng, entry)  # written as the use case writes it: the JSON and its indicator columns
        dossier = Dossier(id=uuid.uuid4(), session_id=rng.choice(sessions).id, person_id=rng.choice(people), profile=profile, **profile_facts(profile),
                          status=status, entry_date=entry, exit_date=exit_date, exit_kind=kind,
                          dropout_reason=rng.choice(["employment", "health"]) if kind == "dropout" else None,
                          certification_result=rng.choice([None, "obtained", "partial", "failed", "not_assessed"]) if exit_date else None,
                          realised_hours=Decimal(rng.randrange(0, 400)) if exit_date and rng.random() < 0.5 else None,
                          created_by="test", skill_blocks_obtained=[])
        dossiers.append(dossier)
        for month in ("2026-01", "2026-02"):
            if entry and rng.random() < 0.5:
                statements.append(AttendanceStatement(dossier_id=dossier.id, month=month, version=1, current=True, planned_hours=Decimal("140"),
                                                      attended_hours=Decimal(rng.randrange(0, 140)) + Decimal("0.25"), justified_absence_hours=Decimal("0"),
                                                      unjustified_absence_hours=Decimal("0"), in_company_hours=Decimal(rng.randrange(0, 10)), recorded_by="t"))
    return programmes, actions, sessions, dossiers, statements


def _facts(programmes, actions, sessions, dossiers, statements, scope: Scope, where=lambda session, action: True):
    by_programme = {p.id: p for p in programmes}
    by_action = {a.id: a for a in actions}
    by_session = {s.id: s for s in sessions}
    attended: dict = {}
    for s in statements:
        attended[s.dossier_id] = attended.get(s.dossier_id, Decimal(0)) + s.attended_hours + s.in_company_hours

    def in_scope(session) -> bool:
        action = by_action[session.action_id]
        return ((scope.departement is None or action.departement == scope.departement)
                and (scope.territory is None or session.territory_code == scope.territory)
                and (scope.programme is None or by_programme[action.programme_id].code == scope.programme)
                and where(session, action))

    files, everyone = [], []
    for d in dossiers:
        session = by_session[d.session_id]
        action = by_action[session.action_id]
        p = d.profile
        facts = FileFacts(
            dossier_id=d.id, person_id=d.person_id, session_id=d.session_id, sex=p["sex"], birth_date=date.fromisoformat(p["birth_date"]),
            education_level=p["education_level"],
            jobseeker_registration_date=date.fromisoformat(p["jobseeker_registration_date"]) if p["jobseeker_registration_date"] else None,
            disabled_worker=p["disabled_worker"], qpv=p["qpv"], pillar=by_programme[action.programme_id].pillar, status=d.status,
            entry_date=d.entry_date, exit_date=d.exit_date, exit_kind=d.exit_kind, dropout_reason=d.dropout_reason,
            certification_result=d.certification_result,
            realised_hours=d.realised_hours if d.realised_hours is not None else attended.get(d.id, Decimal(0)),
            programmed_hours=action.hours_in_centre + action.hours_in_company,
        )
        if d.status != "cancelled":
            everyone.append(facts)
            if in_scope(session):
                files.append(facts)
    session_facts = [SessionFacts(s.id, s.places, s.start_date, s.end_date) for s in sessions if in_scope(s)]
    return files, session_facts, everyone


COMPARED = ("entries", "exits", "dropouts", "places_offered", "places_filled")


def _key_of(by: str, session, action):
    return session.territory_code if by == "territory" else action.departement


def _expected_comparison(rows, scope: Scope, period: Period, by: str) -> dict:
    """`compare`'s headline numbers, each key's as the definition counts its own files."""
    _, actions, sessions, _, _ = rows
    by_action = {a.id: a for a in actions}
    expected = {}
    for key in {_key_of(by, s, by_action[s.action_id]) for s in sessions}:
        files, session_facts, everyone = _facts(*rows, scope, where=lambda session, action, key=key: _key_of(by, session, action) == key)
        counts = aggregate_in_memory(files, session_facts, period, IndicatorPolicy(), everyone)
        expected[key] = {name: getattr(counts, name) for name in COMPARED}
    return {key: counts for key, counts in expected.items() if any(counts.values())}


async def _compared(db, rows, scope: Scope, period: Period, by: str) -> dict:
    compared = {row.key: {name: getattr(row, name) for name in COMPARED} for row in await compare(db, scope, period, by)}
    return {key: counts for key, counts in compared.items() if any(counts.values())}


async def test_sql_aggregation_matches_the_definition(api):
    rng = random.Random(20261130)
    rows = _build(rng)
    engine = create_engine(api.settings.database_url)
    factory = session_factory(engine)
    try:
        async with factory() as db:
            for group in rows:
                db.add_all(group)
                await db.flush()
            await db.commit()
        policy = IndicatorPolicy()
        scopes = [Scope(), Scope(departement="44"), Scope(territory="T1"), Scope(programme="PREPA", departement="49")]
        periods = [Period(), Period(date(2026, 1, 1), date(2026, 6, 30)), Period(date(2025, 9, 1), None)]
        async with factory() as db:
            for scope in scopes:
                files, sessions, everyone = _facts(*rows, scope)
                for period in periods:
                    for sex in (None, "F", "M"):
                        scoped = [f for f in files if sex is None or f.sex == sex]
                        expected = aggregate_in_memory(scoped, sessions, period, policy, everyone)
                        assert await aggregate(db, scope, period, policy, sex) == expected, (scope, period, sex)
                    for by in ("territory", "departement"):
                        assert await _compared(db, rows, scope, period, by) == _expected_comparison(rows, scope, period, by), (scope, period, by)
            # the data exercises every count (a comparison of zeros would prove nothing)
            files, sessions, everyone = _facts(*rows, Scope())
            whole = aggregate_in_memory(files, sessions, Period(), policy, everyone)
            assert all(getattr(whole, name) for name in whole.__dataclass_fields__), whole
    finally:
        await engine.dispose()
