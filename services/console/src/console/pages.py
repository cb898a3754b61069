"""The console's pages. Each reads the services with the signed-in operator's token; each
filter is a query parameter, so a view is a URL that can be shared."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pacte_common.clock import business_today
from prometheus_client.parser import text_string_to_metric_families

from console import indicators as ind
from console.backend import Backend, ServiceError
from console.figures import Figure
from console.periods import Month, months_between
from console.security import (
    Operator,
    check_csrf,
    dev_region_token,
    require_operator,
    sign_in,
    sign_out,
)

log = logging.getLogger(__name__)
router = APIRouter()
SignedIn = Annotated[Operator, Depends(require_operator)]
CsrfChecked = Depends(check_csrf)


def backend_of(request: Request) -> Backend:
    return request.app.state.backend


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    context.setdefault("flashes", request.session.pop("flash", []))
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


def flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flash", [])
    request.session["flash"] = [*request.session["flash"], [kind, text]]


def back_to(path: str, query: str) -> RedirectResponse:
    """Back to the page the form was on (a local path only: never an open redirect)."""
    return RedirectResponse(path + (f"?{query}" if query and not query.startswith(("/", "\\")) else ""), status_code=303)


class BadFilter(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(field, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _month(value: str | None, field: str) -> Month | None:
    if not value:
        return None
    try:
        return Month.parse(value)
    except ValueError:
        raise BadFilter(field, f"{value!r} is not a month (YYYY-MM)") from None


def path_month(value: str) -> Month:
    try:
        return Month.parse(value)
    except ValueError:
        raise BadFilter("month", f"{value!r} is not a month (YYYY-MM)") from None


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


# ------------------------------------------------------------------ sign-in


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/indicators"):
    return render(request, "sign_in.html", next=_local(next))


@router.post("/sign-in", dependencies=[CsrfChecked])
async def sign_in_with_token(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/indicators"):
    try:
        sign_in(request, token.strip())
    except ValueError as exc:
        return render(request, "sign_in.html", status_code=422, next=_local(next), error=f"token: {exc}")
    return RedirectResponse(_local(next), status_code=303)


@router.post("/sign-in/dev", dependencies=[CsrfChecked])
async def sign_in_as_region(request: Request, next: Annotated[str, Form()] = "/indicators"):
    settings = request.app.state.settings
    if not settings.dev_sign_in:
        return render(request, "error.html", status_code=404, title="Not available",
                      message="The development sign-in is switched off here (PACTE_CONSOLE_DEV_SIGN_IN).")
    try:
        bearer = await asyncio.to_thread(dev_region_token, settings.dev_issuer_url, settings.service_urls())
    except Exception as exc:  # the dev issuer is down or refuses: say so on the sign-in page
        log.warning("no token from the development issuer at %s: %r", settings.dev_issuer_url, exc)
        return render(request, "sign_in.html", status_code=503, next=_local(next),
                      error=f"The development token issuer at {settings.dev_issuer_url} did not give a token: {type(exc).__name__}")
    sign_in(request, bearer)
    return RedirectResponse(_local(next), status_code=303)


@router.post("/sign-out", dependencies=[CsrfChecked])
async def sign_out_now(request: Request):
    sign_out(request)
    return RedirectResponse("/sign-in", status_code=303)


def _local(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/indicators"


# ------------------------------------------------------------------ indicators


def _indicator_filters(request: Request, operator: Operator) -> ind.IndicatorFilters:
    q = request.query_params
    organisation = _clean(q.get("organisation"))
    if not operator.is_region:
        organisation = operator.org_id  # the service enforces it too; the form shows it fixed
    compare = _clean(q.get("compare"))
    if compare not in (None, "territory", "departement"):
        raise BadFilter("compare", f"{compare!r}: compare by territory or departement")
    return ind.IndicatorFilters(
        period_from=_date(q.get("from"), "from"), period_to=_date(q.get("to"), "to"),
        programme=_clean(q.get("programme")), departement=_clean(q.get("departement")), organisation=organisation,
        territory=_clean(q.get("territory")), compare=compare,
    )


async def _indicator_figures(request: Request, operator: Operator, filters: ind.IndicatorFilters):
    settings = request.app.state.settings
    try:
        months = months_between(
            Month.of(filters.period_from) if filters.period_from else None,
            Month.of(filters.period_to) if filters.period_to else None,
            current=Month.of(business_today(settings.business_timezone)),
            default=settings.default_months_shown, maximum=settings.max_months_shown,
        )
    except ValueError as exc:
        raise BadFilter("to", str(exc)) from None
    period, monthly = await ind.load(backend_of(request), operator.token, filters, months)
    extra = []
    try:  # the result indicators (docs/outcomes.md), where the service has them; the page never depends on them
        outcome = await backend_of(request).call("insights", "GET", "/indicators/results", token=operator.token,
                                                 params=filters.params(compare=None), accept_status=(403, 404, 422))
        if outcome.status_code == 200:
            extra.append(ind.results(outcome.json()))
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        log.warning("result indicators unavailable: %s", exc)
    return ind.figures(period, monthly, months) + extra + [ind.every_indicator(period)], months


NO_TERRITORIES = ("No territory table is published yet (or the current version lists no territory; docs/territories.md): "
                  "figures are by département instead.")


@router.get("/indicators")
async def indicators_page(request: Request, operator: SignedIn):
    territories = await _territories(request, operator)
    try:
        filters = _territory_fallback(_indicator_filters(request, operator), territories)
        figures, months = await _indicator_figures(request, operator, filters)
    except BadFilter as exc:
        return render(request, "indicators.html", status_code=422, error=str(exc), filters=None, figures=[], programmes=[],
                      territories=[], query=request.url.query, operator=operator)
    programmes = await _programmes(request, operator)
    return render(request, "indicators.html", filters=filters, figures=figures, months=months, programmes=programmes,
                  territories=territories, query=request.url.query, operator=operator,
                  no_territories=None if territories else NO_TERRITORIES)


def _territory_fallback(filters: ind.IndicatorFilters, territories: list) -> ind.IndicatorFilters:
    """Without a territory table there is no territory to compare: compare by département instead."""
    if not territories and filters.compare == "territory":
        return replace(filters, compare="departement")
    return filters


async def _programmes(request: Request, operator: Operator) -> list:
    """Programmes for the filter's list; a free text field when unavailable."""
    programmes = await backend_of(request).call("sessions", "GET", "/programmes", token=operator.token, accept_status=(403, 404))
    return programmes.json() if programmes.status_code == 200 else []


async def _territories(request: Request, operator: Operator) -> list:
    """The current version's territories; empty while none is published (404)."""
    found = await backend_of(request).call("sessions", "GET", "/territories", token=operator.token, accept_status=(403, 404))
    return found.json()["territories"] if found.status_code == 200 else []


@router.get("/indicators/all.csv")
async def indicators_csv_from_service(request: Request, operator: SignedIn):
    """The insights service's own CSV of every indicator, for everyone and by sex."""
    filters = _indicator_filters(request, operator)
    response = await backend_of(request).call("insights", "GET", "/indicators", token=operator.token, params=filters.params(),
                                              headers={"Accept": "text/csv"})
    return Response(response.content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})


@router.get("/indicators/{figure_id}.csv")
async def indicator_csv(figure_id: str, request: Request, operator: SignedIn):
    try:
        filters = _indicator_filters(request, operator)
        if filters.compare == "territory":
            filters = _territory_fallback(filters, await _territories(request, operator))
        figures, _ = await _indicator_figures(request, operator, filters)
    except BadFilter as exc:
        return Response(str(exc), status_code=422, media_type="text/plain")
    figure = next((f for f in figures if f.id == figure_id), None)
    if figure is None:
        return Response(f"No figure {figure_id}", status_code=404, media_type="text/plain")
    return Response(figure.csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{figure.id}.csv"'})


# ------------------------------------------------------------------ AGORA

FLOW_STATES = ("pending", "sent", "acknowledged", "rejected", "excluded", "delegated")


async def _flows(backend: Backend, token: str, *, scan: int, **params) -> list[dict]:
    flows, cursor = [], None
    while len(flows) < scan:
        page = await backend.get_json("agora-gateway", "/flows", token=token, params={**params, "cursor": cursor, "limit": 100})
        flows.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return flows[:scan]


@router.get("/agora")
async def agora_page(request: Request, operator: SignedIn):
    backend, settings = backend_of(request), request.app.state.settings
    origin = request.query_params.get("origin") if request.query_params.get("origin") in ("live", "backfill") else None
    operation = _clean(request.query_params.get("operation"))
    common = {"origin": origin, "operation": operation}
    scanned, rejected, pending, excluded, jobs = await asyncio.gather(
        _flows(backend, operator.token, scan=settings.agora_flows_scanned, **common),
        _flows(backend, operator.token, scan=200, status="rejected", **common),
        _flows(backend, operator.token, scan=200, status="pending", **common),
        _flows(backend, operator.token, scan=200, status="excluded", **common),
        backend.get_json("agora-gateway", "/backfill", token=operator.token),
    )
    # Why a file waits (missing NIR) or is excluded (perimeter) is on the file's view.
    waiting_ids = list(dict.fromkeys(f["dossier_id"] for f in pending + excluded))[:100]
    views = await backend.gather(
        [lambda i=i: backend.get_json("agora-gateway", f"/dossiers/{i}", token=operator.token) for i in waiting_ids]
    )
    by_id = {v["dossier_id"]: v for v in views}
    waiting = []
    for flow in pending + excluded:
        view = by_id.get(flow["dossier_id"])
        if view is None:
            continue
        if flow["status"] == "excluded":
            reason = f"outside the perimeter: {view['perimeter'].get('reason_code') or ''} {view['perimeter'].get('reason') or ''}".strip()
        elif view["waiting_for_nir"]:
            reason = "waiting for the trainee's NIR"
        else:
            continue  # pending, on its way
        waiting.append({**flow, "reason": reason})

    counts = Counter(f["status"] for f in scanned)
    by_state = Figure("flows-by-state", "Flows by state", ["state", "flows"], [[s, counts.get(s, 0)] for s in FLOW_STATES])
    per_day: dict[str, Counter] = defaultdict(Counter)
    for flow in scanned:
        per_day[flow["created_at"][:10]][flow["status"]] += 1
    over_time = Figure(
        "flows-over-time", "Flows by day created, by current state", ["day", *FLOW_STATES],
        [[day, *(per_day[day].get(s, 0) for s in FLOW_STATES)] for day in sorted(per_day)], kind="stacked",
    )
    return render(request, "agora.html", operator=operator, by_state=by_state, over_time=over_time, rejected=rejected,
                  waiting=waiting, jobs=jobs, origin=origin, operation=operation, query=request.url.query,
                  scanned=len(scanned), scan_limit=settings.agora_flows_scanned)


@router.post("/agora/flows/{flow_id}/retry", dependencies=[CsrfChecked])
async def retry_flow(flow_id: str, request: Request, operator: SignedIn, back: Annotated[str, Form()] = ""):
    try:
        flow = await backend_of(request).get_json("agora-gateway", f"/flows/{flow_id}", token=operator.token)
        await backend_of(request).call("agora-gateway", "POST", f"/flows/{flow_id}/retry", token=operator.token)
        flash(request, "ok", f"Flow {flow['operation']} of file {flow['dossier_id']} will be sent again.")
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        flash(request, "error", f"Retry refused: {exc}")
    return back_to("/agora", back)


# ------------------------------------------------------------------ France Travail

FT_OPERATIONS = ("ais", "aes", "attendance", "interruption", "resumption", "end", "cancellation")


async def _ft_flows(backend: Backend, token: str, *, scan: int, **params) -> list[dict]:
    flows, cursor = [], None
    while len(flows) < scan:
        page = await backend.get_json("agora-gateway", "/france-travail/flows", token=token,
                                      params={**params, "cursor": cursor, "limit": 100})
        flows.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return flows[:scan]


@router.get("/france-travail")
async def france_travail_page(request: Request, operator: SignedIn):
    backend, settings = backend_of(request), request.app.state.settings
    operation = request.query_params.get("operation") if request.query_params.get("operation") in FT_OPERATIONS else None
    scanned, rejected, waiting, report = await asyncio.gather(
        _ft_flows(backend, operator.token, scan=settings.agora_flows_scanned, operation=operation),
        _ft_flows(backend, operator.token, scan=200, status="rejected", operation=operation),
        _ft_flows(backend, operator.token, scan=200, waiting_for_identifier="true", operation=operation),
        backend.get_json("agora-gateway", "/france-travail/delegation-report", token=operator.token, params={"limit": 100}),
    )
    states = ("pending", "sent", "acknowledged", "rejected")
    counts = Counter(f["status"] for f in scanned)
    by_state = Figure("ft-flows-by-state", "Certificates by state", ["state", "certificates"], [[s, counts.get(s, 0)] for s in states])
    per_day: dict[str, Counter] = defaultdict(Counter)
    for flow in scanned:
        per_day[flow["created_at"][:10]][flow["status"]] += 1
    over_time = Figure(
        "ft-flows-over-time", "Certificates by day created, by current state", ["day", *states],
        [[day, *(per_day[day].get(s, 0) for s in states)] for day in sorted(per_day)], kind="stacked",
    )
    return render(request, "france_travail.html", operator=operator, by_state=by_state, over_time=over_time,
                  rejected=rejected, waiting=waiting, delegated=report["items"], operation=operation,
                  operations=FT_OPERATIONS, query=request.url.query, scanned=len(scanned),
                  scan_limit=settings.agora_flows_scanned)


@router.post("/france-travail/flows/{flow_id}/retry", dependencies=[CsrfChecked])
async def retry_ft_flow(flow_id: str, request: Request, operator: SignedIn, back: Annotated[str, Form()] = ""):
    try:
        flow = await backend_of(request).get_json("agora-gateway", f"/france-travail/flows/{flow_id}", token=operator.token)
        await backend_of(request).call("agora-gateway", "POST", f"/france-travail/flows/{flow_id}/retry", token=operator.token)
        flash(request, "ok", f"Certificate {flow['operation']} of file {flow['dossier_id']} will be sent again.")
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        flash(request, "error", f"Retry refused: {exc}")
    return back_to("/france-travail", back)


# ------------------------------------------------------------------ pay


def _pay_months(request: Request) -> list[Month]:
    settings = request.app.state.settings
    q = request.query_params
    try:
        return months_between(_month(q.get("from"), "from"), _month(q.get("to"), "to"),
                              current=Month.of(business_today(settings.business_timezone)),
                              default=settings.default_months_shown, maximum=settings.max_months_shown)
    except BadFilter:
        raise
    except ValueError as exc:
        raise BadFilter("to", str(exc)) from None


async def _run(backend: Backend, token: str, month: Month) -> dict | None:
    response = await backend.call("remuneration", "GET", f"/runs/{month}", token=token, accept_status=(404,))
    return response.json() if response.status_code == 200 else None


async def _adjustments(backend: Backend, token: str, month: str, scan: int) -> tuple[int, int]:
    """Statements and adjustments of a month (adjustments = corrections of earlier months)."""
    statements = adjustments = 0
    cursor = None
    while statements < scan:
        page = await backend.get_json("remuneration", "/statements", token=token, params={"month": month, "cursor": cursor, "limit": 100})
        statements += len(page["items"])
        adjustments += sum(len(s.get("adjustments") or []) for s in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return statements, adjustments


@router.get("/pay")
async def pay_page(request: Request, operator: SignedIn):
    backend, settings = backend_of(request), request.app.state.settings
    try:
        months = _pay_months(request)
    except BadFilter as exc:
        return render(request, "pay.html", status_code=422, error=str(exc), runs=[], operator=operator, query=request.url.query)
    runs = await backend.gather([lambda m=m: _run(backend, operator.token, m) for m in months])
    counted = await backend.gather(
        [lambda r=r: _adjustments(backend, operator.token, r["month"], settings.pay_statements_scanned) for r in runs if r]
    )
    extra = iter(counted)
    rows = []
    for month, run in zip(months, runs, strict=True):
        statements, adjustments = next(extra) if run else (0, 0)
        rows.append({"month": str(month), "run": run, "statements": statements, "adjustments": adjustments})
    totals = Figure("pay-totals", "Amount paid or to pay by month (€)", ["month", "total (€)"],
                    [[r["month"], Decimal(str(r["run"]["total_amount"])) if r["run"] else None] for r in rows])
    statements = Figure("pay-statements", "Statements by month", ["month", "computed", "waiting for attendance"],
                        [[r["month"], r["run"]["statements_computed"] if r["run"] else 0, r["run"]["statements_waiting"] if r["run"] else 0]
                         for r in rows], kind="stacked")
    return render(request, "pay.html", operator=operator, runs=rows, totals=totals, statements_figure=statements,
                  query=request.url.query, first=str(months[0]), last=str(months[-1]))


@router.post("/pay/runs", dependencies=[CsrfChecked])
async def compute_run(request: Request, operator: SignedIn, month: Annotated[str, Form()], back: Annotated[str, Form()] = ""):
    try:
        run = (await backend_of(request).call("remuneration", "POST", "/runs", token=operator.token, json={"month": month})).json()
        flash(request, "ok", f"Run {run['month']} computed: {run['statements_computed']} statement(s), total {run['total_amount']} €.")
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        flash(request, "error", f"Run {month} not computed: {exc}")
    return back_to("/pay", back)


@router.get("/pay/{month}/validate")
async def confirm_validation(month: str, request: Request, operator: SignedIn):
    run = (await backend_of(request).call("remuneration", "GET", f"/runs/{path_month(month)}", token=operator.token)).json()
    return render(request, "pay_confirm.html", operator=operator, run=run, back=request.query_params.get("back", ""))


@router.post("/pay/{month}/validate", dependencies=[CsrfChecked])
async def validate_run(month: str, request: Request, operator: SignedIn, version: Annotated[int, Form()],
                       back: Annotated[str, Form()] = ""):
    try:
        # If-Match: the run validated is the one the operator confirmed, not a recomputed one.
        run = (await backend_of(request).call("remuneration", "POST", f"/runs/{path_month(month)}/validate", token=operator.token,
                                              headers={"If-Match": f'"{version}"'})).json()
        flash(request, "ok", f"Run {run['month']} validated: {run['payment_lines']} payment line(s), {run['total_amount']} €.")
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        flash(request, "error", f"Run {month} not validated: {exc}")
    return back_to("/pay", back)


@router.get("/pay/{month}/batch.csv")
async def batch_file(month: str, request: Request, operator: SignedIn):
    checked = path_month(month)  # the checked month names the file, never the raw path text
    response = await backend_of(request).call("remuneration", "GET", f"/batches/{checked}", token=operator.token)
    return Response(response.content, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="pacte-remuneration-{checked}.csv"',
    })


# ------------------------------------------------------------------ debts

DEBT_STATES = ("open", "demanded", "partly_repaid", "repaid", "written_off")


@router.get("/debts")
async def debts_page(request: Request, operator: SignedIn):
    """Money trainees owe back: what is still owed, each debt with where it comes from, the write-off."""
    backend = backend_of(request)
    state = request.query_params.get("state") if request.query_params.get("state") in DEBT_STATES else None
    cursor = _clean(request.query_params.get("cursor"))
    page, totals = await asyncio.gather(
        backend.get_json("remuneration", "/debts", token=operator.token,
                         params={"state": state, "cursor": cursor, "limit": request.app.state.settings.debts_page_size}),
        backend.get_json("remuneration", "/debts/totals", token=operator.token),
    )
    more = urlencode({"state": state or "", "cursor": page["next_cursor"]}) if page.get("next_cursor") else None
    return render(request, "debts.html", operator=operator, debts=page["items"], totals=totals, state=state,
                  states=DEBT_STATES, more=more, query=request.url.query)


@router.post("/debts/{debt_id}/write-off", dependencies=[CsrfChecked])
async def write_off_debt(debt_id: uuid.UUID, request: Request, operator: SignedIn, reason: Annotated[str, Form()],
                         back: Annotated[str, Form()] = ""):
    try:
        debt = (await backend_of(request).call("remuneration", "POST", f"/debts/{debt_id}/write-off",
                                               token=operator.token, json={"reason": reason})).json()
        flash(request, "ok", f"Debt of file {debt['dossier_id']} written off: {debt['written_off_amount']} €.")
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        flash(request, "error", f"Write-off refused: {exc}")
    return back_to("/debts", back)


# ------------------------------------------------------------------ bus health

SERVICES = ("orientation", "sessions", "remuneration", "agora-gateway", "attendance", "insights")


async def _service_health(backend: Backend, service: str) -> dict:
    """A service's `/health/status` (broker, outbox, consumer lag, dead letters), with its
    Prometheus counters of events published and consumed."""
    try:
        token = backend.observability_token  # None when the services expose them to anyone
        status = await backend.call(service, "GET", "/health/status", token=token, accept_status=(404,))
        metrics = await backend.call(service, "GET", "/metrics", token=token)
    except ServiceError as exc:
        return {"service": service, "reachable": False, "error": str(exc)}
    counters = _counters(metrics.text)
    if status.status_code == 404:  # a service without /health/status: its metrics only
        return {"service": service, "reachable": True, "state": "unknown", "reasons": [], "components": {},
                "outbox_backlog": counters["outbox_pending"], "oldest_unsent_age_s": None, "consumers": [],
                "dead_letters": {}, "dead_lettered": 0, **counters}
    report = status.json()
    components = report.get("components", {})
    outbox = components.get("outbox", {})
    dead_letters = components.get("dead_letters", {}) or {}
    consumers = [
        {**c, "lag_total": sum((c.get("lag") or {}).values()), "lag_worst": max((c.get("lag") or {}).values(), default=0)}
        for c in components.get("consumers", []) or []
    ]
    extra = {k: v for k, v in components.items() if k not in ("database", "outbox", "broker", "consumers", "dead_letters")}
    return {
        "service": service, "reachable": True, "state": report.get("status"), "reasons": report.get("reasons", []),
        "broker": components.get("broker", {}), "database": components.get("database", {}),
        "outbox_backlog": outbox.get("backlog"), "oldest_unsent_age_s": outbox.get("oldest_unsent_age_s"),
        "consumers": consumers, "dead_letters": dead_letters, "dead_lettered": sum(dead_letters.values()),
        "extra": extra, **counters,
    }


def _counters(text: str) -> dict:
    """Events published and consumed (by outcome), from a service's Prometheus metrics."""
    found = {"outbox_pending": None, "published": 0, "consumed": Counter()}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pacte_outbox_pending":
                found["outbox_pending"] = int(sample.value)
            elif sample.name == "pacte_outbox_published_total":
                found["published"] = int(sample.value)
            elif sample.name == "pacte_events_consumed_total":
                found["consumed"][sample.labels.get("outcome", "")] += int(sample.value)
    found["consumed"] = dict(found["consumed"])
    return found


def flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    """A JSON status as key/value rows (nested keys joined with a dot)."""
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in flatten(item, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [row for index, item in enumerate(value) for row in flatten(item, f"{prefix}[{index}]")]
    return [(prefix, value)]


@router.get("/bus")
async def bus_page(request: Request, operator: SignedIn):
    if not operator.is_region:
        return render(request, "error.html", status_code=403, title="Reserved to the Region",
                      message="Bus health is read by the Region's operators.")
    backend = backend_of(request)
    services = await backend.gather([lambda s=s: _service_health(backend, s) for s in SERVICES])
    await backend.gather([lambda s=s: _last_dead_letters(backend, s, operator.token) for s in services])
    figure = Figure(
        "bus-backlog", "Outbox backlog, consumer lag and dead letters by service",
        ["service", "outbox backlog", "consumer lag", "dead letters", "oldest unsent (s)"],
        [[s["service"], s.get("outbox_backlog") or 0, sum(c["lag_total"] for c in s.get("consumers", [])), s.get("dead_lettered") or 0,
          s.get("oldest_unsent_age_s")] for s in services],
        charted=3,
    )
    return render(request, "bus.html", operator=operator, services=services, bus_figure=figure, flatten=flatten)


DEAD_LETTERS_SHOWN = 5  # the last errors shown per dead-letter topic


async def _last_dead_letters(backend: Backend, service: dict, token: str) -> None:
    """Adds to a service's health the last errors of each of its non-empty dead-letter topics."""
    service["letters"] = {}
    for topic, depth in (service.get("dead_letters") or {}).items():
        if not depth:
            continue
        try:
            service["letters"][topic] = await backend.get_json(
                service["service"], f"/admin/dead-letters/{quote(topic, safe='')}", token=token,
                params={"last": DEAD_LETTERS_SHOWN},
            )
        except ServiceError as exc:
            if exc.unauthorised:
                raise
            service["letters"][topic] = {"error": str(exc)}


@router.post("/bus/dead-letters/replay", dependencies=[CsrfChecked])
async def replay_dead_letters(
    request: Request, operator: SignedIn, service: Annotated[str, Form()], topic: Annotated[str, Form()],
    limit: Annotated[str, Form()] = "",
):
    """Asks the service that owns the dead-letter topic to replay it, all or the `limit` oldest
    not yet replayed (Region only, checked there)."""
    if service not in SERVICES:
        flash(request, "error", f"No service {service!r}.")
        return back_to("/bus", "")
    if limit and not (limit.isdigit() and int(limit) >= 1):
        flash(request, "error", "How many to replay must be a whole number of at least 1 (or empty for all).")
        return back_to("/bus", "")
    try:
        report = (await backend_of(request).call(service, "POST", f"/admin/dead-letters/{quote(topic, safe='')}/replay",
                                                 token=operator.token, params={"limit": limit or None})).json()
        flash(request, "ok", f"{topic}: replayed {report['replayed']}, failed again {report['failed_again']}, "
                             f"not yet handled {report['unsettled']}.")
    except ServiceError as exc:
        if exc.unauthorised:
            raise
        flash(request, "error", f"Replay of {topic} refused: {exc}")
    return back_to("/bus", "")


# ------------------------------------------------------------------ skills passport


@router.get("/skills")
async def skills_page(request: Request, operator: SignedIn):
    """A person's certification results and skill blocks (the Region, the person's current prescriber)."""
    person_id = _clean(request.query_params.get("person_id"))
    passport, error, status = None, None, 200
    if person_id:
        try:
            uuid.UUID(person_id)
        except ValueError:
            return render(request, "skills.html", status_code=422, operator=operator, person_id=person_id, passport=None,
                          error=f"person_id: {person_id!r} is not a person id (UUID)")
        response = await backend_of(request).call("insights", "GET", f"/people/{person_id}/skills", token=operator.token,
                                                  accept_status=(403, 404))
        if response.status_code == 403:
            return render(request, "error.html", status_code=403, title="Reserved to the Region and the person's prescriber",
                          message="Skills passports are read by the Region and by the person's current prescriber.")
        if response.status_code == 200:
            passport = response.json()
        else:
            status, error = 404, "No such person among those you may read."
    return render(request, "skills.html", status_code=status, operator=operator, person_id=person_id or "", passport=passport, error=error)


def query_with(query: str, **changes) -> str:
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(query))
    params.update({k: v for k, v in changes.items() if v is not None})
    return urlencode({k: v for k, v in params.items() if v})
