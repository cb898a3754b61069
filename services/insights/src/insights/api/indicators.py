"""`GET /indicators`: the Pacte's monitoring indicators (docs/rules.md §8), JSON or CSV.

Every number is aggregated by the database (db/indicators.py): the request costs a dozen
queries whatever the number of files. Filters: period, programme, département, organisation,
territory; `compare=territory|departement` adds headline numbers side by side; ANOTEA
satisfaction (mean marks and response count) comes for the same scope.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pacte_common.auth import CurrentPrincipal
from pacte_common.errors import Invalid
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, HeavyReport, RateLimited
from pacte_common.http import IsoDate
from pacte_common.service import DbSession, RuntimeDep

from insights.api.access import indicators_scope
from insights.api.presenters import indicators_csv, indicators_out
from insights.db.indicators import Scope, aggregate_all, compare, satisfaction
from insights.domain.indicators import SEXES, Period, assemble

router = APIRouter(tags=["indicators"])


@router.get(
    "/indicators",
    summary="Monitoring indicators, by sex, with ANOTEA satisfaction; optionally compared by territory or département; JSON or CSV (Accept: text/csv)",
    responses={200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}, **FAIR_SHARE_RESPONSES},
    dependencies=[RateLimited("reports"), HeavyReport],
)
async def get_indicators(
    request: Request,
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    period_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    period_to: Annotated[IsoDate | None, Query(alias="to")] = None,
    programme: str | None = None,
    departement: str | None = None,
    organisation: str | None = None,
    territory: Annotated[str | None, Query(max_length=32, description="Employment-training territory code (GET /territories)")] = None,
    compare_by: Annotated[Literal["territory", "departement"] | None, Query(alias="compare")] = None,
):
    organisation = indicators_scope(principal, organisation)
    if period_from and period_to and period_to < period_from:
        raise Invalid("'to' must be on or after 'from'", field="query.to")
    scope = Scope(programme=programme, departement=departement, organisation=organisation, territory=territory)
    period, policy = Period(period_from, period_to), runtime.settings.indicator_policy()
    aggregates = await aggregate_all(db, scope, period, policy)
    result = {"all": assemble(aggregates[None], policy), **{sex: assemble(aggregates[sex], policy) for sex in SEXES}}
    figures = await satisfaction(db, scope, period)
    compared = await compare(db, scope, period, compare_by) if compare_by else []
    filters = {"from": period_from, "to": period_to, "programme": programme, "departement": departement,
               "organisation": organisation, "territory": territory, "compare": compare_by}

    if "text/csv" in request.headers.get("accept", ""):
        return Response(indicators_csv(result, figures, compared, compare_by), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})

    body = indicators_out(filters, result, figures, compared, compare_by)
    return JSONResponse(jsonable_encoder(body))
