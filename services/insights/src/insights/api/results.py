"""`GET /indicators/results`: what became of trainees 3, 6 or 12 months after their exit, with
response rates (docs/outcomes.md, "Result indicators"), JSON or CSV. Every number is aggregated by
the database (db/results.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pacte_common.auth import CurrentPrincipal
from pacte_common.contracts.outcomes import Horizon
from pacte_common.errors import Invalid
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, HeavyReport, RateLimited
from pacte_common.http import IsoDate
from pacte_common.service import DbSession, RuntimeDep

from insights.api.access import Today, results_scope
from insights.api.presenters import results_csv, results_out
from insights.db.results import results as computed_results
from insights.domain.results import ResultFilters

router = APIRouter(tags=["results"])


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
    organisation = results_scope(principal, organisation)
    if period_from and period_to and period_to < period_from:
        raise Invalid("'to' must be on or after 'from'", field="query.to")
    settings = runtime.settings
    filters = ResultFilters(period_from, period_to, programme, departement, territory, organisation, horizon)
    found = await computed_results(db, filters, today, settings.indicator_policy(), settings.pillar_flow_window_months)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(results_csv(found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="results.csv"'})
    return JSONResponse(jsonable_encoder(results_out(found, settings.outcome_min_respondents)))
