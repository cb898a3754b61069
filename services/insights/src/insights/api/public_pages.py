"""The public pages over the public search (docs/public-search.md, "The page"): a search form with
its results and a training's page, rendered on the server (Jinja2), in French, usable without
JavaScript, on a phone and with a screen reader; assets served by the service (no CDN).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pacte_common.errors import Invalid, NotFound
from pacte_common.fair_share import RateLimited
from pacte_common.service import DbSession

from insights.api.public import SearchParams, search, training_page

HERE = Path(__file__).resolve().parents[1]
ASSETS = "/public-assets"
RADII = (5, 10, 20, 30, 50, 100)
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates" / "public")
assets = StaticFiles(directory=HERE / "static" / "public")


# What the page says of a field the search refused (the JSON route says it in English).
FIELD_HELP = {
    "q": "Des mots-clés plus courts (200 caractères au plus).",
    "formacode": "Un code FORMACODE a 5 chiffres (par exemple 22403).",
    "rome": "Un code ROME : une lettre de A à N puis 4 chiffres (par exemple F1604).",
    "nsf": "Un code NSF : 3 chiffres, éventuellement suivis d'une lettre (par exemple 233).",
    "near": "Lieu inconnu de l'offre : indiquez un code postal, un code INSEE ou une commune où une formation a lieu.",
    "radius_km": "Un rayon en kilomètres, de plus de 0 à {max} km.",
    "start_from": "Une date (jour, mois, année).",
    "start_to": "Une date (jour, mois, année), après la première.",
    "cursor": "Ce lien de page n'est plus valable : relancez la recherche.",
}


def french_number(value: Decimal | float | None, places: int = 2) -> str:
    return "" if value is None else f"{Decimal(value):.{places}f}".replace(".", ",")


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{round(Decimal(value) * 100)} %"


def french_date(value: date | str | None) -> str:
    if value is None:
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return day.strftime("%d/%m/%Y")


templates.env.filters.update(number=french_number, percent=percent, day=french_date)


def _text(request: Request, name: str) -> str | None:
    value = (request.query_params.get(name) or "").strip()
    return value or None


def _date(request: Request, name: str) -> date | None:
    value = _text(request, name)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise Invalid("une date au format AAAA-MM-JJ", field=f"query.{name}") from None


def params_of(request: Request) -> SearchParams:
    """The form's fields (strings, checkboxes) as the search takes them; a wrong one is Invalid."""
    radius = _text(request, "radius_km")
    try:
        radius_km = float(radius) if radius else None
    except ValueError:
        raise Invalid("un rayon en kilomètres", field="query.radius_km") from None
    codes = {kind: [_text(request, kind)] if _text(request, kind) else None for kind in ("formacode", "rome", "nsf")}
    return SearchParams(
        q=(_text(request, "q") or "")[:200] or None, near=_text(request, "near"), radius_km=radius_km if _text(request, "near") or radius_km else None,
        start_from=_date(request, "start_from"), start_to=_date(request, "start_to"),
        distance_learning=True if request.query_params.get("distance_learning") else None,
        places_left=True if request.query_params.get("places_left") else None, **codes,
    )


def form_values(request: Request) -> dict[str, Any]:
    return {name: request.query_params.get(name, "") for name in
            ("q", "near", "radius_km", "start_from", "start_to", "formacode", "rome", "nsf", "distance_learning", "places_left")}


@router.get("/formations", response_class=HTMLResponse, dependencies=[RateLimited("public")])
async def public_search_page(request: Request, db: DbSession):
    settings = request.app.state.runtime.settings
    today = request.app.state.clock().date()
    context: dict[str, Any] = {"form": form_values(request), "radii": RADII, "assets": ASSETS,
                               "default_radius": int(settings.public_radius_km_default), "min_base": settings.public_min_base,
                               "page": None, "errors": {}, "searched": bool(request.query_params)}
    status = 200
    if request.query_params:
        try:
            context["page"] = await search(db, settings, today, params_of(request), _text(request, "cursor"),
                                           settings.public_page_size_default)
        except Invalid as exc:
            fields = [e["field"].removeprefix("query.") for e in exc.extensions["errors"]]
            context["errors"] = {f: FIELD_HELP.get(f, "Valeur invalide.").format(max=int(settings.public_radius_km_max)) for f in fields}
            status = 422
        if context["page"] and context["page"].next_cursor:
            query = {k: v for k, v in request.query_params.items() if k != "cursor"}
            context["next_url"] = "/formations?" + urlencode({**query, "cursor": context["page"].next_cursor})
    return templates.TemplateResponse(request, "search.html", context, status_code=status)


@router.get("/formations/{training_id}", response_class=HTMLResponse, dependencies=[RateLimited("public")])
async def public_training_page(training_id: str, request: Request, db: DbSession):
    settings = request.app.state.runtime.settings
    try:
        training = await training_page(db, settings, request.app.state.clock().date(), uuid.UUID(training_id))
    except (ValueError, NotFound):
        return templates.TemplateResponse(request, "missing.html", {"assets": ASSETS, "min_base": settings.public_min_base}, status_code=404)
    return templates.TemplateResponse(request, "training.html", {"t": training, "assets": ASSETS, "min_base": settings.public_min_base})
