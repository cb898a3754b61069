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
from pacte_common.auth import CurrentPrincipal, OrgKind
from pacte_common.csv_export import CsvWriter
from pacte_common.errors import Forbidden, Invalid
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, HeavyReport, RateLimited
from pacte_common.http import IsoDate
from pacte_common.service import DbSession, RuntimeDep

from insights.db.indicators import CompareRow, Scope, aggregate_all, compare, satisfaction
from insights.domain.indicators import (
    SEXES,
    Average,
    Period,
    Ratio,
    Satisfaction,
    assemble,
)

router = APIRouter(tags=["indicators"])

SCOPES = {"all": "all", "F": "sex:F", "M": "sex:M"}


def _render(value: Ratio | Average) -> dict:
    if isinstance(value, Ratio):
        body = {"numerator": value.numerator, "denominator": value.denominator, "value": value.value}
        if value.target is not None:
            body.update(target=value.target, meets_target=value.meets_target)
        return body
    return {"total": value.total, "count": value.count, "value": value.value}


def _satisfaction(figures: Satisfaction) -> dict:
    return {"responses": figures.responses, "mean_marks": figures.means()}


def _compare_row(row: CompareRow) -> dict:
    return {
        "key": row.key, "entries": row.entries, "exits": row.exits, "dropouts": row.dropouts,
        "dropout_rate": Ratio(row.dropouts, row.exits).value, "places_offered": row.places_offered,
        "places_filled": row.places_filled, "places_filled_rate": Ratio(row.places_filled, row.places_offered).value,
        "satisfaction": _satisfaction(row.satisfaction),
    }


def _csv(result: dict, figures: Satisfaction, compared: list[CompareRow], by: str | None) -> Response:
    writer = CsvWriter()  # formula cells neutralised
    writer.writerow(["scope", "indicator", "numerator", "denominator", "value", "target"])
    for scope, label in SCOPES.items():
        indicator_set = result[scope]
        writer.writerow([label, "entries", indicator_set.entries, "", indicator_set.entries, ""])
        for name, value in indicator_set.values.items():
            if isinstance(value, Ratio):
                writer.writerow([label, name, value.numerator, value.denominator, "" if value.value is None else value.value, value.target or ""])
            else:
                writer.writerow([label, name, value.total, value.count, "" if value.value is None else value.value, ""])
    writer.writerow(["all", "satisfaction_responses", figures.responses, "", figures.responses, ""])
    for name, mean in figures.means().items():
        writer.writerow(["all", f"satisfaction_{name}", figures.sums.get(name, ""), figures.responses, "" if mean is None else mean, ""])
    for row in compared:
        label = f"{by}:{row.key or 'none'}"
        for name in ("entries", "exits", "dropouts", "places_offered", "places_filled"):
            writer.writerow([label, name, getattr(row, name), "", getattr(row, name), ""])
        mean = row.satisfaction.means()["overall"]
        writer.writerow([label, "satisfaction_overall", row.satisfaction.sums.get("overall", ""), row.satisfaction.responses, "" if mean is None else mean, ""])
    return Response(writer.text(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})


def _scope_for(principal, organisation: str | None) -> str | None:
    if principal.org_kind is OrgKind.TRAINING_ORG:
        if organisation not in (None, principal.org_id):
            raise Forbidden("A training organisation sees its own indicators")
        return principal.org_id
    if principal.org_kind is not OrgKind.REGION:
        raise Forbidden("Indicators are read by the Region and training organisations")
    return organisation


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
    organisation = _scope_for(principal, organisation)
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
        return _csv(result, figures, compared, compare_by)

    def one(indicator_set) -> dict:
        return {"entries": indicator_set.entries, **{name: _render(v) for name, v in indicator_set.values.items()}}

    body = {"filters": filters, "all": one(result["all"]), "by_sex": {sex: one(result[sex]) for sex in SEXES},
            "satisfaction": _satisfaction(figures)}
    if compare_by:
        body["compare"] = {"by": compare_by, "rows": [_compare_row(row) for row in compared]}
    return JSONResponse(jsonable_encoder(body))
