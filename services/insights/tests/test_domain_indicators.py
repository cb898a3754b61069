"""The indicators' one definition is SQL (db/indicators.py, over the read models). Here is its
oracle: the same definition in memory (`aggregate_in_memory`, tests only), checked first
against a small dataset worked out by hand, then held against the SQL on a few hundred random
files, edge dates included (birthdays on the entry day, 29 February, registrations exactly 12
months before), for every scope, period and sex, and for the comparison by territory and by
département, key by key (both databases)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from insights.db.indicators import Scope, aggregate, compare
from insights.db.models import Action, AttendanceStatement, Dossier, Programme, TrainingSession
from insights.domain.indicators import (
    SEXES,
    Aggregates,
    IndicatorPolicy,
    IndicatorSet,
    Period,
    assemble,
    entry_facts,
    whole_months,
)
from pacte_common.clock import age_on, months_before
from pacte_common.db import create_engine, session_factory

# ---------------------------------------------------------------- the oracle (tests only)


@dataclass(frozen=True)
class FileFacts:
    dossier_id: UUID
    person_id: UUID
    session_id: UUID
    sex: str
    birth_date: date
    education_level: str | None
    jobseeker_registration_date: date | None
    disabled_worker: bool
    qpv: bool
    pillar: str
    status: str
    entry_date: date | None
    exit_date: date | None = None
    exit_kind: str | None = None
    dropout_reason: str | None = None
    certification_result: str | None = None
    realised_hours: Decimal = Decimal("0")
    programmed_hours: Decimal = Decimal("0")


@dataclass(frozen=True)
class SessionFacts:
    session_id: UUID
    places: int
    start_date: date
    end_date: date


def compute(
    files: Iterable[FileFacts],
    sessions: Iterable[SessionFacts],
    period: Period,
    policy: IndicatorPolicy,
    follow_up_files: Iterable[FileFacts] | None = None,
) -> dict[str, IndicatorSet]:
    """Indicators for everyone (`all`) and by sex (`F`, `M`).

    `files` are the files within the filters (programme, département, organisation);
    `follow_up_files` are all files, where a VISA entry after a PRÉPA exit is looked up.
    """
    files = [f for f in files if f.status != "cancelled"]
    follow_up = [f for f in (follow_up_files if follow_up_files is not None else files) if f.status != "cancelled"]
    sessions = list(sessions)
    result = {"all": assemble(aggregate_in_memory(files, sessions, period, policy, follow_up), policy)}
    for sex in SEXES:
        scoped = [f for f in files if f.sex == sex]
        result[sex] = assemble(aggregate_in_memory(scoped, sessions, period, policy, follow_up), policy)
    return result


def aggregate_in_memory(files, sessions, period, policy, follow_up) -> Aggregates:
    """The counts and sums of one scope, from the facts: the executable definition that the
    SQL aggregation of db/indicators.py must match (test_sql_aggregation_matches_the_definition below)."""
    entries = [f for f in files if period.contains(f.entry_date)]

    def long_term(f: FileFacts) -> bool:
        registered = f.jobseeker_registration_date
        return registered is not None and registered <= months_before(f.entry_date, policy.long_term_months)

    def count(items, test: Callable[[FileFacts], bool]) -> int:
        return sum(1 for f in items if test(f))

    in_scope = {s.session_id: s for s in sessions if period.overlaps(s.start_date, s.end_date)}
    exits = [f for f in files if f.status == "exited" and period.contains(f.exit_date)]
    dropouts = [f for f in exits if f.exit_kind == "dropout"]
    visa_assessed = [f for f in exits if f.pillar == "visa" and f.certification_result in ("obtained", "partial", "failed")]

    prepa_exit_by_person: dict[UUID, date] = {}
    for f in exits:
        if f.pillar == "prepa":
            earliest = prepa_exit_by_person.get(f.person_id)
            prepa_exit_by_person[f.person_id] = min(earliest, f.exit_date) if earliest else f.exit_date
    visa_entries: dict[UUID, list[date]] = {}
    for f in follow_up:
        if f.pillar == "visa" and f.entry_date is not None:
            visa_entries.setdefault(f.person_id, []).append(f.entry_date)
    went_on = sum(
        1 for person, exited_on in prepa_exit_by_person.items()
        if any(entered >= exited_on for entered in visa_entries.get(person, []))
    )
    return Aggregates(
        entries=len(entries),
        disabled=count(entries, lambda f: f.disabled_worker),
        low_qualified=count(entries, lambda f: f.education_level in policy.low_qualified_levels),
        long_term=count(entries, long_term),
        seniors=count(entries, lambda f: age_on(f.birth_date, f.entry_date) >= policy.senior_age),
        under_26=count(entries, lambda f: age_on(f.birth_date, f.entry_date) < policy.young_age_limit),
        qpv=count(entries, lambda f: f.qpv),
        places_offered=sum(s.places for s in in_scope.values()),
        places_filled=count(files, lambda f: f.session_id in in_scope and f.entry_date is not None),
        exits=len(exits),
        dropouts=len(dropouts),
        dropouts_for_job=count(dropouts, lambda f: f.dropout_reason == "employment"),
        duration_days=sum((f.exit_date - f.entry_date).days + 1 for f in exits),
        realised_hours=sum((f.realised_hours for f in exits), Decimal("0")),
        programmed_hours=sum((f.programmed_hours for f in exits), Decimal("0")),
        visa_assessed=len(visa_assessed),
        visa_obtained=count(visa_assessed, lambda f: f.certification_result == "obtained"),
        prepa_people=len(prepa_exit_by_person),
        prepa_went_on=went_on,
    )



# ---------------------------------------------------------------- the oracle, by hand

S1, S2, S3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # VISA (10 places), PRÉPA (5), a 2025 session (8)
SESSIONS = [
    SessionFacts(S1, 10, date(2026, 1, 5), date(2026, 6, 26)),
    SessionFacts(S2, 5, date(2026, 1, 5), date(2026, 3, 27)),
    SessionFacts(S3, 8, date(2025, 1, 6), date(2025, 6, 30)),
]
P3 = uuid.uuid4()  # goes from PRÉPA to VISA


def facts(n, sex, born, level, registered, disabled, qpv, pillar, session, status, entry, exit=None, kind=None,
          dropout=None, cert=None, realised="0", programmed="540", person=None):
    return FileFacts(
        dossier_id=uuid.uuid4(), person_id=person or uuid.uuid4(), session_id=session, sex=sex,
        birth_date=date.fromisoformat(born), education_level=level,
        jobseeker_registration_date=date.fromisoformat(registered) if registered else None,
        disabled_worker=disabled, qpv=qpv, pillar=pillar, status=status,
        entry_date=date.fromisoformat(entry) if entry else None, exit_date=date.fromisoformat(exit) if exit else None,
        exit_kind=kind, dropout_reason=dropout, certification_result=cert,
        realised_hours=Decimal(realised), programmed_hours=Decimal(programmed),
    )


FILES = [
    # 1: F 35 y, level V, registered 16 months before entry, disabled, QPV; VISA completed, certified
    facts(1, "F", "1990-04-12", "v", "2024-09-01", True, True, "visa", S1, "exited", "2026-01-05", "2026-06-26", "completed", None, "obtained", "500"),
    # 2: M 56 y (senior), level III+, 7 months registered; VISA dropout for a job, certification failed
    facts(2, "M", "1970-01-10", "iii_and_above", "2025-06-01", False, False, "visa", S1, "exited", "2026-01-05", "2026-03-13", "dropout", "employment", "failed", "200"),
    # 3: F 23 y, infra V, QPV; PRÉPA completed, then VISA (file 5)
    facts(3, "F", "2002-05-01", "below_v", None, False, True, "prepa", S2, "exited", "2026-01-05", "2026-03-27", "completed", None, None, "300", "300", person=P3),
    # 4: M 24 y, level IV, registered exactly 12 months before entry, disabled; VISA in training
    facts(4, "M", "2001-02-01", "iv", "2025-02-02", True, False, "visa", S1, "in_training", "2026-02-02"),
    # 5: the same person as 3, entering VISA after the PRÉPA exit
    facts(5, "F", "2002-05-01", "below_v", None, False, True, "visa", S1, "in_training", "2026-04-06", person=P3),
    # 6: M 40 y, level V, long-term; PRÉPA dropout (personal), no VISA after
    facts(6, "M", "1985-06-15", "v", "2023-01-01", False, False, "prepa", S2, "exited", "2026-01-05", "2026-02-20", "dropout", "personal", None, "100", "300"),
    # 7: cancelled (entry declared by mistake): never counted
    facts(7, "F", "1990-01-01", "v", None, True, True, "visa", S1, "cancelled", "2026-01-05"),
    # 8: enrolled, not entered: no entry, no place filled
    facts(8, "F", "1990-01-01", "v", None, True, True, "visa", S1, "enrolled", None),
    # 9: entered and left in 2025, outside the period
    facts(9, "F", "1995-01-01", "v", None, True, True, "visa", S3, "exited", "2025-02-03", "2025-06-30", "completed", None, "obtained", "400"),
]
YEAR_2026 = Period(date(2026, 1, 1), date(2026, 12, 31))


def ratio(result, name):
    value = result.values[name]
    return value.numerator, value.denominator, value.value


@pytest.fixture(scope="module")
def year():
    return compute(FILES, SESSIONS, YEAR_2026, IndicatorPolicy())


def test_access_of_target_publics(year):
    everyone = year["all"]
    assert everyone.entries == 6  # files 1-6
    assert ratio(everyone, "disabled_workers_share") == (2, 6, Decimal("0.3333"))  # 1, 4
    assert everyone.values["disabled_workers_share"].meets_target is True  # 33% >= 15%
    assert ratio(everyone, "low_qualified_share") == (5, 6, Decimal("0.8333"))  # all but 2 (level III+)
    assert ratio(everyone, "long_term_jobseekers_share") == (3, 6, Decimal("0.5000"))  # 1, 4 (exactly 12 months), 6
    assert ratio(everyone, "seniors_share") == (1, 6, Decimal("0.1667"))  # 2
    assert ratio(everyone, "under_26_share") == (3, 6, Decimal("0.5000"))  # 3, 4, 5
    assert ratio(everyone, "qpv_share") == (3, 6, Decimal("0.5000"))  # 1, 3, 5


def test_delivery(year):
    everyone = year["all"]
    # S1 (10) and S2 (5) overlap 2026; entered: S1 files 1, 2, 4, 5; S2 files 3, 6
    assert ratio(everyone, "places_filled_rate") == (6, 15, Decimal("0.4000"))
    # exits in 2026: 1, 2, 3, 6; dropouts 2 (for a job) and 6
    assert ratio(everyone, "dropout_rate") == (2, 4, Decimal("0.5000"))
    assert ratio(everyone, "dropout_for_job_rate") == (1, 4, Decimal("0.2500"))
    # durations 173 + 68 + 82 + 47 = 370 days over 4 exits
    duration = everyone.values["average_realised_duration_days"]
    assert (duration.total, duration.count, duration.value) == (Decimal("370"), 4, Decimal("92.50"))
    assert everyone.values["average_realised_hours"].value == Decimal("275.00")  # 1100 / 4
    assert ratio(everyone, "realised_hours_rate") == (Decimal("1100"), Decimal("1680"), Decimal("0.6548"))


def test_results(year):
    everyone = year["all"]
    assert ratio(everyone, "visa_certification_success_rate") == (1, 2, Decimal("0.5000"))  # 1 obtained, 2 failed
    assert ratio(everyone, "visa_access_after_prepa_rate") == (1, 2, Decimal("0.5000"))  # person of 3/5 yes, 6 no


def test_breakdown_by_sex(year):
    women, men = year["F"], year["M"]
    assert (women.entries, men.entries) == (3, 3)  # 1, 3, 5 / 2, 4, 6
    assert ratio(women, "disabled_workers_share") == (1, 3, Decimal("0.3333"))
    assert ratio(men, "seniors_share") == (1, 3, Decimal("0.3333"))
    assert ratio(women, "places_filled_rate") == (3, 15, Decimal("0.2000"))
    assert ratio(women, "dropout_rate") == (0, 2, Decimal("0.0000"))
    assert ratio(men, "dropout_rate") == (2, 2, Decimal("1.0000"))
    assert ratio(men, "dropout_for_job_rate") == (1, 2, Decimal("0.5000"))
    assert ratio(women, "visa_access_after_prepa_rate") == (1, 1, Decimal("1.0000"))
    assert ratio(men, "visa_access_after_prepa_rate") == (0, 1, Decimal("0.0000"))


def test_period_filter():
    january = compute(FILES, SESSIONS, Period(date(2026, 1, 1), date(2026, 1, 31)), IndicatorPolicy())["all"]
    assert january.entries == 4  # 1, 2, 3, 6 entered on 5 January
    assert ratio(january, "dropout_rate") == (0, 0, None)  # nobody left in January
    assert january.values["average_realised_duration_days"].value is None
    everything = compute(FILES, SESSIONS, Period(), IndicatorPolicy())["all"]
    assert everything.entries == 7  # and file 9 of 2025
    assert ratio(everything, "places_filled_rate") == (7, 23, Decimal("0.3043"))


def test_policy_values_are_settings():
    stricter = compute(FILES, SESSIONS, YEAR_2026, IndicatorPolicy(disabled_target=Decimal("0.40"), senior_age=40))["all"]
    assert stricter.values["disabled_workers_share"].meets_target is False
    assert ratio(stricter, "seniors_share") == (2, 6, Decimal("0.3333"))  # 2 is 56; 6 is 40, a senior from 40 (not at the default 50)


def test_months_before_clamps_to_month_end():
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2026, 2, 2), 12) == date(2025, 2, 2)


def test_whole_months_and_entry_facts_follow_months_before():
    assert whole_months(date(2025, 2, 2), date(2026, 2, 2)) == 12
    assert whole_months(date(2025, 2, 3), date(2026, 2, 2)) == 11
    assert whole_months(date(2025, 1, 28), date(2025, 2, 28)) == 1
    assert whole_months(date(2025, 1, 31), date(2025, 2, 28)) == 0  # 28 Feb − 1 month is 28 Jan
    leap = entry_facts(date(2000, 2, 29), None, date(2026, 2, 28))
    assert leap == {"age_at_entry": 25, "registration_months_at_entry": None}  # of age on 1 March
    assert entry_facts(date(2000, 2, 29), date(2025, 3, 1), date(2026, 3, 1)) == {"age_at_entry": 26, "registration_months_at_entry": 12}
    assert entry_facts(date(2000, 2, 29), None, None)["age_at_entry"] is None


# ---------------------------------------------------------------- the SQL against the oracle


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


def _day_of(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def migrated_engine(database_url: str):
    """The read models' tables as the service's migrations create them."""
    from insights.main import MIGRATIONS
    from pacte_common.db import migrate

    await migrate(database_url, MIGRATIONS)
    return create_engine(database_url)


def _build(rng: random.Random):
    programmes = [Programme(id=code, name=code, pillar=pillar)
                  for code, pillar in (("PREPA", "prepa"), ("VISA", "visa"))]
    actions = [Action(id=uuid.uuid4(), programme_id=rng.choice(programmes).id, organisation_siret=rng.choice(["11111111100011", "22222222200022"]),
                      title="t", certifying=True, hours_in_centre=Decimal("300"), hours_in_company=Decimal(rng.choice(["0", "70.5"])),
                      hourly_price=Decimal("10"), departement=rng.choice(["44", "49"])) for _ in range(6)]
    sessions = []
    for _ in range(12):
        start = _day(rng, date(2025, 6, 1), 500)
        sessions.append(TrainingSession(id=uuid.uuid4(), action_id=rng.choice(actions).id, start_date=start, end_date=start + timedelta(days=rng.randrange(30, 200)),
                                        places=rng.randrange(5, 20), recruitment_state="open",
                                        territory_code=rng.choice(["T1", "T2", None])))
    people = [uuid.uuid4() for _ in range(150)]
    dossiers, statements = [], []
    for _ in range(300):
        entry = _day(rng, date(2025, 6, 1), 600) if rng.random() < 0.85 else None
        status = "enrolled" if entry is None else rng.choice(["in_training", "exited", "exited", "cancelled"])
        exit_date = entry + timedelta(days=rng.randrange(0, 200)) if status == "exited" else None
        kind = rng.choice(["completed", "dropout"]) if exit_date else None
        profile = _profile(rng, entry)  # written as the use case writes it: the JSON and its indicator columns
        dossier = Dossier(id=uuid.uuid4(), session_id=rng.choice(sessions).id, person_id=rng.choice(people), sex=profile["sex"],
                          education_level=profile["education_level"], disabled_worker=profile["disabled_worker"], qpv=profile["qpv"],
                          **entry_facts(date.fromisoformat(profile["birth_date"]), _day_of(profile["jobseeker_registration_date"]), entry),
                          status=status, entry_date=entry, exit_date=exit_date, exit_kind=kind,
                          dropout_reason=rng.choice(["employment", "health"]) if kind == "dropout" else None,
                          certification_result=rng.choice([None, "obtained", "partial", "failed", "not_assessed"]) if exit_date else None,
                          realised_hours=Decimal(rng.randrange(0, 400)) if exit_date and rng.random() < 0.5 else None,
                          skill_blocks_obtained=[])
        dossier.profile = profile  # not a column: what the oracle reads (the read model keeps only entry_facts)
        dossiers.append(dossier)
        for month in ("2026-01", "2026-02"):
            if entry and rng.random() < 0.5:
                statements.append(AttendanceStatement(dossier_id=dossier.id, month=month, version=1, current=True, 
                                                      attended_hours=Decimal(rng.randrange(0, 140)) + Decimal("0.25"), in_company_hours=Decimal(rng.randrange(0, 10))))
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
                and (scope.programme is None or by_programme[action.programme_id].id == scope.programme)
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


async def test_sql_aggregation_matches_the_definition(database_url):
    rng = random.Random(20261130)
    rows = _build(rng)
    engine = await migrated_engine(database_url)
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
