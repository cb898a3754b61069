"""`GET /indicators/results`: what became of trainees 3, 6 or 12 months after their exit, with
response rates (docs/outcomes.md, "Result indicators"), JSON or CSV. Every number is aggregated by
the database (db/results.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pacte_common.auth import CurrentPrincipal, OrgKind
from pacte_common.contracts.outcomes import Horizon
from pacte_common.csv_export import CsvWriter
from pacte_common.errors import Forbidden, Invalid
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, HeavyReport, RateLimited
from pacte_common.http import IsoDate
from pacte_common.service import DbSession, RuntimeDep

from insights.api.access import Today
from insights.db.results import results as computed_results
from insights.domain.indicators import Ratio
from insights.domain.results import ResultFilters, ResultGroup, Results

router = APIRouter(tags=["results"])
FIGURES = ("employment", "lasting_employment", "training")


def _rate(rate: Ratio, group: ResultGroup, minimum: int) -> dict:
    return {
        "numerator": rate.numerator, "denominator": rate.denominator, "value": rate.value,
        "population": group.population, "respondents": group.respondents, "response_rate": group.response_rate.value,
        "low_base": group.respondents < minimum,
    }


def _group(group: ResultGroup, minimum: int) -> dict:
    return {
        "population": group.population, "respondents": group.respondents, "response_rate": group.response_rate.value,
        **{name: _rate(getattr(group, name), group, minimum) for name in FIGURES},
    }


def _flow(rate: Ratio) -> dict:
    return {"numerator": rate.numerator, "denominator": rate.denominator, "value": rate.value}


def results_json(results: Results, minimum: int) -> dict:
    f = results.filters
    return {
        "filters": {"from": f.period_from, "to": f.period_to, "programme": f.programme, "departement": f.departement,
                    "territory": f.territory, "organisation": f.organisation},
        "horizon_months": int(f.horizon), "as_of": results.as_of,
        "all": _group(results.all, minimum),
        **{f"by_{name}": {key: _group(g, minimum) for key, g in groups.items()} for name, groups in results.by.items()},
        "prepa_to_visa": {**_flow(results.prepa_to_visa), "by_sex": {s: _flow(r) for s, r in results.prepa_to_visa_by_sex.items()}},
    }


def _cell(value) -> str:
    return "" if value is None else str(value)


def results_csv(results: Results) -> str:
    writer = CsvWriter()  # formula cells neutralised
    writer.writerow(["breakdown", "group", "indicator", "numerator", "denominator", "value", "population", "respondents", "response_rate"])
    groups = [("all", "all", results.all)] + [(name, key, g) for name, by in results.by.items() for key, g in by.items()]
    for breakdown, key, group in groups:
        for name in FIGURES:
            rate = getattr(group, name)
            writer.writerow([breakdown, key, name, rate.numerator, rate.denominator, _cell(rate.value),
                             group.population, group.respondents, _cell(group.response_rate.value)])
    flow = results.prepa_to_visa
    writer.writerow(["all", "all", "prepa_to_visa", flow.numerator, flow.denominator, _cell(flow.value), flow.denominator, "", ""])
    return writer.text()


@router.get(
    "/indicators/results",
    summary="Result indicators at a horizon (employment, lasting employment, training) with response rates; JSON or CSV",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}},
                     "description": "Figures by sex, target public, pillar, département, territory; each with its response rate"},
               **FAIR_SHARE_RESPONSES},
    dependencies=[RateLimited("reports"), HeavyReport],
)
async def result_indicators(
    request: Request, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep, today: Today,
    period_from: Annotated[IsoDate | None, Query(alias="from", description="Exits on or after this day")] = None,
    period_to: Annotated[IsoDate | None, Query(alias="to", description="Exits on or before this day")] = None,
    horizon: Annotated[Horizon, Query(description="Months after the exit: 3, 6 or 12")] = Horizon.SIX_MONTHS,
    programme: Annotated[str | None, Query(max_length=64)] = None,
    departement: Annotated[str | None, Query(max_length=3)] = None,
    territory: Annotated[str | None, Query(max_length=32)] = None,
    organisation: Annotated[str | None, Query(max_length=14)] = None,
):
    if principal.org_kind is OrgKind.TRAINING_ORG:
        if organisation not in (None, principal.org_id):
            raise Forbidden("A training organisation sees its own results")
        organisation = principal.org_id
    elif principal.org_kind is not OrgKind.REGION:
        raise Forbidden("Result indicators are read by the Region and training organisations")
    if period_from and period_to and period_to < period_from:
        raise Invalid("'to' must be on or after 'from'", field="query.to")
    settings = runtime.settings
    filters = ResultFilters(period_from, period_to, programme, departement, territory, organisation, horizon)
    found = await computed_results(db, filters, today, settings.indicator_policy(), settings.pillar_flow_window_months)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(results_csv(found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="results.csv"'})
    return JSONResponse(jsonable_encoder(results_json(found, settings.outcome_min_respondents)))
