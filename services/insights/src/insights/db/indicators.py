"""The indicators' counts and sums, aggregated by the database (no file is loaded into memory).

Each function answers one scope: the filters (programme, département, organisation,
territory), the period and optionally one sex. This is the one definition of the
indicators (docs/rules.md §8); the tests hold it to an in-memory oracle on random files, on
SQLite and PostgreSQL. It reads insights' read models (db/models.py): ages and registration
seniorities are whole numbers the read model computed on the entry date
(domain.indicators.entry_facts), so no date arithmetic but the duration is left to SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Integer, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from insights.db.models import (
    Action,
    AttendanceStatement,
    Dossier,
    Programme,
    SatisfactionReview,
    TrainingSession,
)
from insights.domain.indicators import (
    SATISFACTION_MARKS,
    SEXES,
    Aggregates,
    IndicatorPolicy,
    Period,
    Satisfaction,
)


@dataclass(frozen=True)
class Scope:
    programme: str | None = None
    departement: str | None = None
    organisation: str | None = None
    territory: str | None = None


class days_between(FunctionElement):  # noqa: N801 (an SQL function)
    """Whole days from the first date to the second."""

    type = Integer()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"CAST(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}) AS INTEGER)"


@compiles(days_between)
def _days_default(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"({compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_period(column, period: Period):
    conditions = [column.is_not(None)]
    if period.start:
        conditions.append(column >= period.start)
    if period.end:
        conditions.append(column <= period.end)
    return and_(*conditions)


def _scoped(query, scope: Scope, *, full: bool = True):
    """Joins a dossier query to its session, action and programme, and applies the filters.
    `full=False`: only the joins the filters need (entries need no column of theirs)."""
    needs_action = full or bool(scope.programme or scope.departement or scope.organisation)
    if needs_action or scope.territory:
        query = query.join(TrainingSession, Dossier.session_id == TrainingSession.id)
    if needs_action:
        query = query.join(Action, TrainingSession.action_id == Action.id).join(Programme, Action.programme_id == Programme.id)
    return _filters(query.where(Dossier.status != "cancelled"), scope)


def _conditions(scope: Scope) -> list:
    conditions = []
    if scope.programme:
        conditions.append(Programme.id == scope.programme)
    if scope.departement:
        conditions.append(Action.departement == scope.departement)
    if scope.organisation:
        conditions.append(Action.organisation_siret == scope.organisation)
    if scope.territory:
        conditions.append(TrainingSession.territory_code == scope.territory)
    return conditions


def _filters(query, scope: Scope):
    conditions = _conditions(scope)
    return query.where(*conditions) if conditions else query


SEX = Dossier.sex


def _aged_at_least(years: int):
    """Aged `years` or more at entry (the file's whole years on its entry date)."""
    return Dossier.age_at_entry >= years


def _long_term(months: int):
    """Registered as a job seeker `months` whole months or more before the entry."""
    return and_(Dossier.registration_months_at_entry.is_not(None), Dossier.registration_months_at_entry >= months)


async def _entries(db: AsyncSession, scope: Scope, period: Period, policy: IndicatorPolicy) -> dict:
    """The entries of the period and their target publics, from the file's profile columns."""
    query = select(
        SEX.label("sex"),
        func.count().label("entries"),
        _count_if(Dossier.disabled_worker).label("disabled"),
        _count_if(Dossier.education_level.in_(sorted(policy.low_qualified_levels))).label("low_qualified"),
        _count_if(_long_term(policy.long_term_months)).label("long_term"),
        _count_if(_aged_at_least(policy.senior_age)).label("seniors"),
        _count_if(~_aged_at_least(policy.young_age_limit)).label("under_26"),
        _count_if(Dossier.qpv).label("qpv"),
    ).select_from(Dossier)
    query = _scoped(query, scope, full=False).where(_in_period(Dossier.entry_date, period))
    return _by_sex(await db.execute(query.group_by(SEX)))


def _by_sex(result) -> dict:
    return {row[0]: dict(row._mapping) for row in result.all()}


def _overlapping(period: Period):
    conditions = []
    if period.start:
        conditions.append(TrainingSession.end_date >= period.start)
    if period.end:
        conditions.append(TrainingSession.start_date <= period.end)
    return and_(literal(True), *conditions)


async def _places(db: AsyncSession, scope: Scope, period: Period) -> tuple[int, dict]:
    offered = _filters(
        select(func.coalesce(func.sum(TrainingSession.places), 0))
        .select_from(TrainingSession)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id),
        scope,
    ).where(_overlapping(period))
    filled = _scoped(select(SEX.label("sex"), func.count().label("places_filled")).select_from(Dossier), scope).where(
        _overlapping(period), Dossier.entry_date.is_not(None)
    )
    return int((await db.execute(offered)).scalar_one()), _by_sex(await db.execute(filled.group_by(SEX)))


def _exited_in(period: Period):
    return and_(Dossier.status == "exited", _in_period(Dossier.exit_date, period))


async def _exits(db: AsyncSession, scope: Scope, period: Period) -> dict:
    assessed = and_(Programme.pillar == "visa", Dossier.certification_result.in_(("obtained", "partial", "failed")))
    dropout = Dossier.exit_kind == "dropout"
    query = select(
        SEX.label("sex"),
        func.count().label("exits"),
        _count_if(dropout).label("dropouts"),
        _count_if(and_(dropout, Dossier.dropout_reason == "employment")).label("dropouts_for_job"),
        func.coalesce(func.sum(days_between(Dossier.entry_date, Dossier.exit_date) + 1), 0).label("duration_days"),
        func.coalesce(func.sum(Dossier.realised_hours), 0).label("realised_hours"),
        func.coalesce(func.sum(Action.hours_in_centre + Action.hours_in_company), 0).label("programmed_hours"),
        _count_if(assessed).label("visa_assessed"),
        _count_if(and_(assessed, Dossier.certification_result == "obtained")).label("visa_obtained"),
    ).select_from(Dossier)
    rows = _by_sex(await db.execute(_scoped(query, scope).where(_exited_in(period)).group_by(SEX)))
    # Realised hours: as declared at the exit, else the current attendance statements' hours
    # (attended + in company, voided months left out), summed by a plain join rather than a
    # join to an aggregate.
    attended = _scoped(
        select(SEX.label("sex"), func.sum(AttendanceStatement.attended_hours + AttendanceStatement.in_company_hours).label("hours"))
        .select_from(AttendanceStatement).join(Dossier, AttendanceStatement.dossier_id == Dossier.id),
        scope,
    ).where(
        _exited_in(period), Dossier.realised_hours.is_(None), AttendanceStatement.current.is_(True),
        AttendanceStatement.voided_at.is_(None),
    ).group_by(SEX)
    for sex, hours in (await db.execute(attended)).all():
        if sex in rows:
            rows[sex]["realised_hours"] = Decimal(str(rows[sex]["realised_hours"])) + Decimal(str(hours or 0))
    for row in rows.values():
        for name in ("realised_hours", "programmed_hours"):
            row[name] = Decimal(str(row[name])).quantize(Decimal("0.01"))
    return rows


def _with_programme(query):
    """A query on the files joined to their session, action and programme."""
    return (
        query.select_from(Dossier)
        .join(TrainingSession, Dossier.session_id == TrainingSession.id)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
    )


async def _prepa_to_visa(db: AsyncSession, scope: Scope, period: Period) -> dict:
    """People leaving PRÉPA in the period (within the filters), for everyone and by sex, and
    how many entered VISA on or after their first such exit (VISA files of any scope).

    One pass grouped by person (the people with such an exit only): each person's first PRÉPA
    exit (overall and per sex of the file) and latest VISA entry side by side, so no join
    between two aggregates is left to the planner's estimates."""
    prepa_exit = and_(Dossier.status == "exited", Programme.pillar == "prepa", _in_period(Dossier.exit_date, period), *_conditions(scope))
    visa_entry = and_(Programme.pillar == "visa", Dossier.entry_date.is_not(None))
    firsts = {key: func.min(case((and_(prepa_exit, SEX == key) if key else prepa_exit, Dossier.exit_date))).label(f"first_{key or 'all'}")
              for key in (None, *SEXES)}
    leavers = _with_programme(select(Dossier.person_id)).where(prepa_exit)
    people = (
        _with_programme(select(Dossier.person_id, *firsts.values(), func.max(case((visa_entry, Dossier.entry_date))).label("last_visa")))
        # only the people who left PRÉPA in the period, and only the files that count for them
        .where(Dossier.status != "cancelled", Dossier.person_id.in_(leavers), or_(prepa_exit, visa_entry))
        .group_by(Dossier.person_id)
        .subquery()
    )
    columns = []
    for key in (None, *SEXES):
        first = people.c[f"first_{key or 'all'}"]
        columns += [_count_if(first.is_not(None)), _count_if(and_(first.is_not(None), people.c.last_visa >= first))]
    row = (await db.execute(select(*columns))).one()
    return {key: {"prepa_people": int(row[2 * i]), "prepa_went_on": int(row[2 * i + 1])} for i, key in enumerate((None, *SEXES))}


def _aggregates(*parts: dict) -> Aggregates:
    numbers: dict = {}
    for part in parts:
        for name, value in part.items():
            if name == "sex":
                continue
            numbers[name] = numbers.get(name, 0) + (value if isinstance(value, Decimal) else int(value or 0))
    return Aggregates(**numbers)


async def aggregate_all(db: AsyncSession, scope: Scope, period: Period, policy: IndicatorPolicy) -> dict[str | None, Aggregates]:
    """Everyone (key None) and each sex (F, M): a few grouped queries for the three."""
    entries, (offered, filled), exits = await _entries(db, scope, period, policy), await _places(db, scope, period), await _exits(db, scope, period)
    prepa = await _prepa_to_visa(db, scope, period)
    result = {None: _aggregates(*entries.values(), *filled.values(), *exits.values(), prepa[None], {"places_offered": offered})}
    for sex in SEXES:
        parts = [group.get(sex, {}) for group in (entries, filled, exits)]
        result[sex] = _aggregates(*parts, prepa[sex], {"places_offered": offered})
    return result


async def aggregate(db: AsyncSession, scope: Scope, period: Period, policy: IndicatorPolicy, sex: str | None = None) -> Aggregates:
    return (await aggregate_all(db, scope, period, policy))[sex]


def _satisfaction_query(scope: Scope, period: Period, *columns):
    query = (
        select(*columns, func.count().label("responses"),
               *(func.coalesce(func.sum(getattr(SatisfactionReview, m)), 0).label(m) for m in SATISFACTION_MARKS))
        .select_from(SatisfactionReview)
        .join(Action, SatisfactionReview.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
        .outerjoin(TrainingSession, SatisfactionReview.session_id == TrainingSession.id)
        .where(_in_period(SatisfactionReview.review_date, period))
    )
    return _filters(query, scope)


def _as_satisfaction(row) -> Satisfaction:
    mapping = row._mapping
    return Satisfaction(int(mapping["responses"]), {m: Decimal(str(mapping[m])) for m in SATISFACTION_MARKS})


async def satisfaction(db: AsyncSession, scope: Scope, period: Period) -> Satisfaction:
    return _as_satisfaction((await db.execute(_satisfaction_query(scope, period))).one())


COMPARE_KEYS = {"territory": TrainingSession.territory_code, "departement": Action.departement}


@dataclass
class CompareRow:
    key: str | None
    entries: int = 0
    exits: int = 0
    dropouts: int = 0
    places_offered: int = 0
    places_filled: int = 0
    satisfaction: Satisfaction = Satisfaction()


async def compare(db: AsyncSession, scope: Scope, period: Period, by: str) -> list[CompareRow]:
    """Headline numbers by territory or by département, each grouped by the database."""
    key = COMPARE_KEYS[by]
    rows: dict[str | None, CompareRow] = {}

    def row(value) -> CompareRow:
        return rows.setdefault(value, CompareRow(value))

    # The files' three counts in one pass: entered in the period, exited in it, filling a place.
    entered = _in_period(Dossier.entry_date, period)
    exited = and_(Dossier.status == "exited", _in_period(Dossier.exit_date, period))
    filling = and_(_overlapping(period), Dossier.entry_date.is_not(None))
    files = _scoped(
        select(key, _count_if(entered), _count_if(exited), _count_if(and_(exited, Dossier.exit_kind == "dropout")), _count_if(filling))
        .select_from(Dossier),
        scope,
    ).where(or_(entered, exited, filling)).group_by(key)
    for value, entries, exits, dropouts, filled in (await db.execute(files)).all():
        counts = row(value)
        counts.entries, counts.exits, counts.dropouts, counts.places_filled = int(entries), int(exits), int(dropouts), int(filled)
    offered = _filters(
        select(key, func.sum(TrainingSession.places)).select_from(TrainingSession)
        .join(Action, TrainingSession.action_id == Action.id).join(Programme, Action.programme_id == Programme.id),
        scope,
    ).where(_overlapping(period)).group_by(key)
    for value, places in (await db.execute(offered)).all():
        row(value).places_offered = int(places or 0)
    for result in (await db.execute(_satisfaction_query(scope, period, key.label("key")).group_by(key))).all():
        row(result._mapping["key"]).satisfaction = _as_satisfaction(result)
    return sorted(rows.values(), key=lambda r: (r.key is None, r.key or ""))
