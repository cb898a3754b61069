"""LHEO over HTTP: `POST /catalogue/lheo` imports an offer file (Region), `GET /catalogue/lheo`
exports the Region's open offer (public, cacheable).

The import's use case is app/lheo.py (XSD validation off the event loop, upserts by LHEO
`numero`, a report for every element; a re-import of the same file changes nothing and
publishes nothing). See docs/lheo.md.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import Invalid, ProblemError
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, HeavyReport, RateLimited
from pacte_common.service import DbSession, RuntimeDep
from pydantic import BaseModel, Field
from sqlalchemy import select

from sessions.api.presenters.lheo import mapping_out, pull_run_out
from sessions.api.schemas import MappingKind, MappingOut, PullRunOut
from sessions.app import lheo_feeds
from sessions.app.lheo import ImportReport, import_offer
from sessions.db.models import Action, LheoProgrammeMapping, LheoPullRun, TrainingSession
from sessions.domain.lheo_export import ExportedAction, ExportedSession, build_document

router = APIRouter(tags=["catalogue"])

LHEO_MEDIA_TYPE = "application/xml"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "The file is too large"


@router.post(
    "/catalogue/lheo",
    response_model=ImportReport,
    summary="Import an LHEO 2.0–2.3 offer file, validated against the official XSD (Region)",
    openapi_extra={
        "requestBody": {"content": {LHEO_MEDIA_TYPE: {"schema": {"type": "string"}}}, "required": True},
        # The common body limit middleware refuses a larger body with 413 while it streams in.
        "x-body-limit-setting": "lheo_max_bytes",
    },
)
async def import_lheo(
    request: Request,
    principal: Annotated[Principal, require_kind(OrgKind.REGION)],
    db: DbSession,
    runtime: RuntimeDep,
    programme_code: Annotated[str | None, Query(
        description="Programme of the actions without extra 'code-dispositif'; overrides the Region's financer mappings",
    )] = None,
    places: Annotated[int | None, Query(ge=1, description="Places of the sessions without extra 'nombre-places' nor recrutement/nb-places")] = None,
):
    data = await request.body()
    if len(data) > runtime.settings.lheo_max_bytes:
        raise PayloadTooLarge(f"the file exceeds {runtime.settings.lheo_max_bytes} bytes")
    if not data.strip():
        raise Invalid("the request body must be an LHEO XML file", field="body")
    return await import_offer(db, runtime, data, programme_code=programme_code, places=places)


def _lheo_date(day: date) -> str:
    return day.strftime("%Y%m%d")


async def open_offer(db, today: date) -> list[ExportedAction]:
    """The Region's open sessions (recruiting, not cancelled, not over) grouped by action."""
    query = (
        select(TrainingSession)
        .join(Action, TrainingSession.action_id == Action.id)
        .where(TrainingSession.cancelled_at.is_(None), TrainingSession.recruitment_state == "open", TrainingSession.end_date >= today)
        .order_by(Action.created_at, Action.id, TrainingSession.start_date, TrainingSession.id)
    )
    grouped: dict[uuid.UUID, tuple[Action, list[TrainingSession]]] = {}
    for session in (await db.execute(query)).unique().scalars():
        grouped.setdefault(session.action_id, (session.action, []))[1].append(session)
    exported = []
    for action, sessions in grouped.values():
        exported.append(ExportedAction(
            key=action.lheo_id or str(action.id),
            programme_code=action.programme.code,
            organisation_siret=action.organisation_siret,
            title=action.title,
            rncp_code=action.rncp_code,
            formacode=action.formacode,
            certifying=action.certifying,
            hours_in_centre=Decimal(action.hours_in_centre),
            hours_in_company=Decimal(action.hours_in_company),
            weekly_hours=Decimal(action.weekly_hours) if action.weekly_hours is not None else None,
            hourly_price=Decimal(action.hourly_price),
            part_time=action.part_time,
            distance_learning=action.distance_learning,
            permanent_entries=sessions[0].permanent_entries,
            modules=list(action.modules or []),
            skill_blocks=list(action.skill_blocks or []),
            departement=action.departement,
            territory_code=action.territory_code,
            details=action.lheo_details or {},
            delivering_siret=action.delivering_siret,
            delivering_name=action.delivering_name,
            sessions=[
                ExportedSession(
                    key=s.lheo_id or str(s.id),
                    start_date_lheo=_lheo_date(s.start_date),
                    end_date_lheo=_lheo_date(s.end_date),
                    places=s.places,
                    places_left=max(s.places - s.places_taken, 0),
                    recruitment_state=s.recruitment_state,
                    information_meetings=list(s.information_meetings or []),
                )
                for s in sessions
            ],
        ))
    return exported


@router.get(
    "/catalogue/lheo",
    summary="The Region's open offer as an LHEO 2.3 document (public, no token; ETag)",
    response_class=Response,
    responses={
        200: {"content": {LHEO_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "LHEO 2.3, valid against the official XSD"},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **FAIR_SHARE_RESPONSES,
    },
    dependencies=[RateLimited("public"), HeavyReport],
)
async def export_lheo(request: Request, db: DbSession):
    today = request.app.state.clock().date()
    actions = await open_offer(db, today)
    document = await anyio.to_thread.run_sync(build_document, actions)
    tag = f'"{hashlib.sha256(document).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": "public, no-cache", "Vary": "Accept-Encoding"}
    candidates = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",") if t.strip()}
    if tag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(content=document, media_type=LHEO_MEDIA_TYPE, headers=headers)


# ---------------------------------------------------------------- the Region's programme mappings

Region = Annotated[Principal, require_kind(OrgKind.REGION)]
Code = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class MappingIn(BaseModel):
    programme_code: str = Field(min_length=1, max_length=64)


@router.get("/catalogue/lheo/mappings", response_model=list[MappingOut],
            summary="The Region's mapping of LHEO financer codes and code-dispositif to its programmes (Region)")
async def list_mappings(principal: Region, db: DbSession):
    query = select(LheoProgrammeMapping).order_by(LheoProgrammeMapping.kind, LheoProgrammeMapping.code)
    return [mapping_out(m) for m in (await db.execute(query)).unique().scalars()]


@router.put("/catalogue/lheo/mappings/{kind}/{code}", response_model=MappingOut,
            summary="Map an LHEO financer code or code-dispositif to a programme (Region)")
async def put_mapping(kind: MappingKind, code: Code, body: MappingIn, principal: Region, db: DbSession):
    return mapping_out(await lheo_feeds.put_mapping(db, kind, code, body.programme_code, principal.describe()))


@router.delete("/catalogue/lheo/mappings/{kind}/{code}", status_code=204, response_class=Response, summary="Remove a mapping (Region)")
async def delete_mapping(kind: MappingKind, code: Code, principal: Region, db: DbSession):
    await lheo_feeds.delete_mapping(db, kind, code)
    return Response(status_code=204)


# ---------------------------------------------------------------- pulled feeds


@router.get("/catalogue/lheo/pulls", response_model=list[PullRunOut],
            summary="The runs of the scheduled LHEO feed pulls, newest first, with their reports (Region)")
async def list_pull_runs(
    principal: Region, db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    feed_url: Annotated[str | None, Query(max_length=1000)] = None,
):
    query = select(LheoPullRun).order_by(LheoPullRun.started_at.desc(), LheoPullRun.id).limit(limit)
    if feed_url:
        query = query.where(LheoPullRun.feed_url == feed_url)
    return [pull_run_out(run) for run in (await db.execute(query)).scalars()]
