"""The result indicators' counts, aggregated by the database (docs/outcomes.md, "Result
indicators"): the one definition, for SQLite and PostgreSQL alike, held in the tests to an
in-memory oracle (tests/test_results.py). It reads insights' read models: the files, their
outcomes (`trainee.outcome-recorded.v1`) and the catalogue.
"""

from __future__ import annotations

from datetime import date

from pacte_common.contracts.outcomes import SOURCE_PRIORITY, OutcomeSituation
from sqlalchemy import and_, case, exists, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from insights.db.indicators import Scope, _conditions, _count_if, _in_period, _with_programme
from insights.db.models import Action, Dossier, Outcome, Programme, TrainingSession
from insights.domain.indicators import IndicatorPolicy, Ratio
from insights.domain.results import (
    NO_TERRITORY,
    SEXES,
    TARGET_PUBLICS,
    ResultFilters,
    ResultGroup,
    Results,
    category,
    horizon_cutoff,
)


def _picked(horizon: int):
    """Per file, the outcome that counts at `horizon` (by source priority, unknowns skipped),
    as one number: source rank × 10 + the situation's category, its least the one that counts."""
    rank = case({source.value: i for i, source in enumerate(SOURCE_PRIORITY)}, value=Outcome.source, else_=len(SOURCE_PRIORITY))
    kind = case({s.value: category(s) for s in OutcomeSituation if s is not OutcomeSituation.UNKNOWN}, value=Outcome.situation, else_=4)
    return (
        select(Outcome.dossier_id, func.min(rank * 10 + kind).label("picked"))
        .where(Outcome.horizon_months == horizon, Outcome.situation != OutcomeSituation.UNKNOWN.value)
        .group_by(Outcome.dossier_id)
        .subquery()
    )


def _publics(policy: IndicatorPolicy) -> dict:
    """Each target public as a condition on the file, judged at entry (db/indicators.py's)."""
    return {
        "disabled_workers": Dossier.disabled_worker.is_(True),
        "low_qualified": Dossier.education_level.in_(sorted(policy.low_qualified_levels)),
        "long_term_jobseekers": and_(Dossier.registration_months_at_entry.is_not(None),
                                     Dossier.registration_months_at_entry >= policy.long_term_months),
        "seniors": Dossier.age_at_entry >= policy.senior_age,
        "under_26": Dossier.age_at_entry < policy.young_age_limit,
        "qpv": Dossier.qpv.is_(True),
    }


def _population(filters: ResultFilters, as_of: date | None, policy: IndicatorPolicy):
    """The files of the population, one row each: its groups, its publics and the category of
    the situation that counts (None: no answer). Without `as_of`, every exit of the period
    within the filters, reached or not (the people of the PRÉPA → VISA flow)."""
    picked = _picked(int(filters.horizon))
    scope = Scope(filters.programme, filters.departement, filters.organisation, filters.territory)
    publics = _publics(policy)
    query = _with_programme(select(
        Dossier.person_id.label("person_id"), Dossier.sex.label("sex"), Programme.pillar.label("pillar"),
        Programme.id.label("programme"), Action.departement.label("departement"),
        func.coalesce(TrainingSession.territory_code, NO_TERRITORY).label("territory"),
        (picked.c.picked % 10).label("kind"),
        *(case((condition, 1), else_=0).label(name) for name, condition in publics.items()),
    )).outerjoin(picked, picked.c.dossier_id == Dossier.id).where(
        Dossier.status == "exited", _in_period(Dossier.exit_date, filters.period), *_conditions(scope),
    )
    if as_of is not None:
        query = query.where(Dossier.exit_date <= horizon_cutoff(as_of, int(filters.horizon)))
    return query.subquery()


def _figures(files, condition=None) -> list:
    """population, respondents, in a job, in a lasting job, in training (within `condition`)."""
    def within(test):
        return test if condition is None else and_(condition, test)

    return [
        func.count() if condition is None else _count_if(condition),
        _count_if(within(files.c.kind.is_not(None))), _count_if(within(files.c.kind.in_((1, 2)))),
        _count_if(within(files.c.kind == 1)), _count_if(within(files.c.kind == 3)),
    ]


def _group(row) -> ResultGroup:
    return ResultGroup(*(int(value or 0) for value in row))


async def results(db: AsyncSession, filters: ResultFilters, as_of: date, policy: IndicatorPolicy, window_months: int) -> Results:
    files = _population(filters, as_of, policy)
    columns = _figures(files)
    for name in TARGET_PUBLICS:
        columns += _figures(files, files.c[name] == 1)
    row = list((await db.execute(select(*columns).select_from(files))).one())
    everyone = _group(row[:5])
    by: dict[str, dict[str, ResultGroup]] = {
        "sex": {sex: ResultGroup() for sex in SEXES},
        "public": {name: _group(row[5 * (i + 1):5 * (i + 2)]) for i, name in enumerate(TARGET_PUBLICS)},
    }
    for name in ("sex", "pillar", "programme", "departement", "territory"):
        key = files.c[name]
        grouped = (await db.execute(select(key, *_figures(files)).select_from(files).group_by(key))).all()
        by.setdefault(name, {}).update({value: _group(counts) for value, *counts in grouped})
    by = {name: dict(sorted(by[name].items())) for name in ("sex", "public", "pillar", "programme", "departement", "territory")}
    flow = await _prepa_to_visa(db, _population(filters, None, policy), filters, window_months)
    return Results(filters=filters, as_of=as_of, all=everyone, by=by,
                   prepa_to_visa=flow.get(None, Ratio(0, 0)), prepa_to_visa_by_sex={sex: flow.get(sex, Ratio(0, 0)) for sex in SEXES})


def _month_key(day):
    """A date as one number ordered like the dates, months 32 apart: `a + 32 × m ≥ b` says that
    `b` is on or before `a` plus `m` months (clamped to the month's end)."""
    return (extract("year", day) * 12 + extract("month", day)) * 32 + extract("day", day)


async def _prepa_to_visa(db: AsyncSession, files, filters: ResultFilters, window_months: int) -> dict:
    """The people of the period's exits within the filters with a PRÉPA exit in the period (any of their files),
    and how many entered a VISA training within the window after their first such exit."""
    people = select(files.c.person_id, func.max(files.c.sex).label("sex")).group_by(files.c.person_id).subquery()
    first = _with_programme(select(Dossier.person_id.label("person_id"), func.min(Dossier.exit_date).label("exited_on"))).where(
        Dossier.status == "exited", Programme.pillar == "prepa", _in_period(Dossier.exit_date, filters.period),
        Dossier.person_id.in_(select(people.c.person_id)),
    ).group_by(Dossier.person_id).subquery()
    went_on = exists(_with_programme(select(Dossier.id)).where(
        Dossier.person_id == first.c.person_id, Programme.pillar == "visa", Dossier.status != "cancelled",
        Dossier.entry_date.is_not(None), Dossier.entry_date >= first.c.exited_on,
        _month_key(first.c.exited_on) + 32 * window_months >= _month_key(Dossier.entry_date),
    ))
    query = (select(people.c.sex, func.count(), _count_if(went_on))
             .select_from(first.join(people, people.c.person_id == first.c.person_id)).group_by(people.c.sex))
    by_sex = {sex: (int(total), int(on)) for sex, total, on in (await db.execute(query)).all()}
    flows: dict = {sex: Ratio(on, total) for sex, (total, on) in by_sex.items()}
    flows[None] = Ratio(sum(on for _, on in by_sex.values()), sum(total for total, _ in by_sex.values()))
    return flows
