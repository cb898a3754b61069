"""The public search of the training offer, for portals and anyone (docs/public-search.md).

No token: open sessions by keyword, code, place, dates, distance learning and places left, each
with its ANOTEA marks, its share in employment 6 months after the exit and its next information
meeting; a training's page. Every figure on fewer people than `public_min_base` is withheld.
Its own OpenAPI document (`/public/openapi.json`, `/public/docs`); in the service's document
these routes carry the tag `public`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pacte_common.docs import ASSETS_PATH
from pacte_common.errors import Invalid, NotFound
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, RateLimited
from pacte_common.http import CursorParam, IsoDate, Page
from pacte_common.pagination import by_date, keyset_page
from pacte_common.service import DbSession
from pydantic import BaseModel, StringConstraints

from insights.api.presenters.public import (
    figures_of,
    public_session_out,
    public_training_out,
)
from insights.api.schemas import PublicSession, PublicTraining
from insights.db.models import TrainingSession
from insights.db.public_search import (
    SearchFilters,
    comments_of,
    page_rows,
    place_of,
    plan_for_these_values,
    search_query,
    training_of,
)
from insights.domain.public_search import (
    CODE_PATTERNS,
    MAX_RADIUS_KM,
    Around,
    invalid_code,
    parse_point,
    stems,
    words_of,
)

TAG = "public"
router = APIRouter(tags=[TAG])
PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
    **{k: v for k, v in FAIR_SHARE_RESPONSES.items() if k == 429},
}


# ---------------------------------------------------------------- caching


def cached(request: Request, body: Any, max_age_s: int) -> Response:
    """A JSON answer with its ETag (a hash of the body); 304 when If-None-Match names it."""
    content = body.model_dump_json().encode() if isinstance(body, BaseModel) else json.dumps(jsonable_encoder(body)).encode()
    tag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={max_age_s}", "Vary": "Accept-Encoding"}
    candidates = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",") if t.strip()}
    if tag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(content=content, media_type="application/json", headers=headers)


# ---------------------------------------------------------------- the search


@dataclass
class SearchParams:
    """The query string of a search, as the JSON route and the page both take it."""

    q: str | None = None
    formacode: list[str] | None = None
    rome: list[str] | None = None
    nsf: list[str] | None = None
    near: str | None = None
    radius_km: float | None = None
    start_from: date | None = None
    start_to: date | None = None
    distance_learning: bool | None = None
    places_left: bool | None = None


async def around_of(db, settings, params: SearchParams) -> Around | None:
    if params.radius_km is not None and not 0 < params.radius_km <= settings.public_radius_km_max:
        raise Invalid(f"a radius from more than 0 to {settings.public_radius_km_max:g} km", field="query.radius_km")
    if not params.near:
        if params.radius_km is not None:
            raise Invalid("a radius needs a place to search around: a commune, a postal code or 'latitude,longitude'", field="query.near")
        return None
    point = parse_point(params.near) or await place_of(db, params.near)
    if point is None:
        raise Invalid("no training place of the offer is known there: give a postal code, an INSEE code, "
                      "a commune's name or 'latitude,longitude'", field="query.near")
    return Around(point[0], point[1], params.radius_km or settings.public_radius_km_default)


async def filters_of(db, settings, today: date, params: SearchParams) -> SearchFilters:
    codes: dict[str, list[str]] = {}
    for kind in ("formacode", "rome", "nsf"):
        given = [code.strip() for code in getattr(params, kind) or [] if code.strip()]
        wrong = [code for code in given if invalid_code(kind, code)]
        if wrong:
            shape = {"formacode": "five digits", "rome": "a letter A-N and four digits", "nsf": "three digits and an optional letter"}[kind]
            raise Invalid(f"not a {kind.upper()} code ({shape}): {', '.join(wrong)}", field=f"query.{kind}")
        if given:
            codes[kind] = given
    if params.start_from and params.start_to and params.start_to < params.start_from:
        raise Invalid("'start_to' must be on or after 'start_from'", field="query.start_to")
    words = words_of(params.q or "")
    return SearchFilters(
        today=today, keywords=words, keyword_stems=stems(" ".join(words)), codes=codes,
        around=await around_of(db, settings, params), start_from=params.start_from, start_to=params.start_to,
        distance_learning=params.distance_learning, places_left=params.places_left,
    )


async def search(db, settings, today: date, params: SearchParams, cursor: str | None, limit: int) -> Page[PublicSession]:
    filters = await filters_of(db, settings, today, params)
    query = search_query(db.bind.dialect.name, filters)
    await plan_for_these_values(db)
    # Ids first (the filtered, ordered page of narrow rows), then the page's rows (docs/public-search.md).
    page = await keyset_page(db, query, by_date(TrainingSession.start_date, TrainingSession.id), cursor=cursor, limit=limit,
                             render=lambda session: session.id)
    rows = await page_rows(db, page.items)
    figures = await figures_of(db, [action for _, action, _ in rows], today, settings.public_min_base)
    items = [public_session_out(session, action, offer, figures, filters.around) for session, action, offer in rows]
    return Page[PublicSession](items=items, next_cursor=page.next_cursor)


def codes_param(kind: str, example: str) -> Any:
    """A repeatable code parameter whose items the schema constrains (a wrong one: 422 naming it)."""
    item = Annotated[str, StringConstraints(pattern=CODE_PATTERNS[kind].pattern)]
    return Annotated[list[item] | None, Query(max_length=5, description=f"Any of these {kind.upper()} codes (e.g. {example})")]


Formacodes, Romes, Nsfs = codes_param("formacode", "22403"), codes_param("rome", "F1604"), codes_param("nsf", "233")


@router.get("/public/sessions", response_model=Page[PublicSession], responses=PUBLIC_RESPONSES,
            summary="Open sessions by keyword, code, place, dates, distance learning and places left (public, no token; ETag)",
            dependencies=[RateLimited("public")])
async def search_public_sessions(
    request: Request,
    db: DbSession,
    q: Annotated[str | None, Query(max_length=200, description="Words of the title or objectives (French stemming)")] = None,
    formacode: Formacodes = None,
    rome: Romes = None,
    nsf: Nsfs = None,
    near: Annotated[str | None, Query(max_length=100, description="Postal code, INSEE code, commune or 'latitude,longitude'")] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=MAX_RADIUS_KM, description="Around `near` (default 30, at most 200)")] = None,
    start_from: Annotated[IsoDate | None, Query(description="Starting on or after")] = None,
    start_to: Annotated[IsoDate | None, Query(description="Starting on or before")] = None,
    distance_learning: bool | None = None,
    places_left: Annotated[bool | None, Query(description="true: places are left; false: full or not known")] = None,
    cursor: CursorParam = None,
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
):
    settings = request.app.state.runtime.settings
    params = SearchParams(q, formacode, rome, nsf, near, radius_km, start_from, start_to, distance_learning, places_left)
    today = request.app.state.clock().date()
    page = await search(db, settings, today, params, cursor, limit or settings.public_page_size_default)
    return cached(request, page, settings.public_cache_max_age_s)


async def training_page(db, settings, today: date, training_id: uuid.UUID) -> PublicTraining:
    found = await training_of(db, training_id, today)
    if found is None:
        raise NotFound("No training with this id in the public offer")
    action, offer, sessions = found
    figures = await figures_of(db, [action], today, settings.public_min_base)
    reviews = figures.reviews(action)
    # A comment is one person's words: shown only where the marks are (the minimum base reached).
    comments = await comments_of(db, action.id, settings.public_comments_max) if reviews.training.reviews else []
    return public_training_out(action, offer, sessions, figures, reviews, comments, today)


@router.get("/public/trainings/{training_id}", response_model=PublicTraining, responses=PUBLIC_RESPONSES,
            summary="A training: its sessions, organisation, reviews' marks and results (public, no token; ETag)",
            dependencies=[RateLimited("public")])
async def get_public_training(training_id: uuid.UUID, request: Request, db: DbSession):
    settings = request.app.state.runtime.settings
    training = await training_page(db, settings, request.app.state.clock().date(), training_id)
    return cached(request, training, settings.public_cache_max_age_s)


# ---------------------------------------------------------------- the portals' document


def public_document(full: dict) -> dict:
    """The service's OpenAPI document cut to the public routes and the schemas they use."""
    paths = {path: item for path, item in full["paths"].items() if path.startswith("/public/")}
    schemas = full.get("components", {}).get("schemas", {})
    kept: dict[str, Any] = {}
    pending = _refs(paths)
    while pending:
        name = pending.pop()
        if name in kept or name not in schemas:
            continue
        kept[name] = schemas[name]
        pending |= _refs(schemas[name])
    info = {**full["info"], "title": "Pacte — public search of the training offer",
            "description": "Open sessions and trainings of the Region's offer, with trainees' reviews and results: no token."}
    return {"openapi": full["openapi"], "info": info, "paths": paths, "components": {"schemas": dict(sorted(kept.items()))}}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


@router.get("/public/openapi.json", include_in_schema=False)
async def public_openapi(request: Request) -> JSONResponse:
    return JSONResponse(public_document(request.app.openapi()))


@router.get("/public/docs", include_in_schema=False)
async def public_docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/public/openapi.json", title="Pacte — public search — Swagger UI",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
    )
