"""LHEO over HTTP: `POST /catalogue/lheo` imports an offer file (Region), `GET /catalogue/lheo`
exports the Region's open offer (public, cacheable).

Import: the file is parsed and validated against the official XSD off the event loop, then
actions and sessions are upserted by their LHEO `numero`. The report gives every formation,
action and session its status (created, updated, unchanged, rejected with the reason) and the
defaults used for what LHEO lacks. A re-import of the same file changes nothing and publishes
nothing. See docs/lheo.md.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Request, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.contracts.sessions import SessionPublished, SessionUpdated
from pacte_common.errors import Invalid, ProblemError
from pacte_common.service import DbSession, RuntimeDep
from pydantic import BaseModel, Field
from sqlalchemy import select

from sessions.app.territories import assign_territories
from sessions.db.models import Action, Programme, TrainingSession
from sessions.db.queries import sessions_of_action
from sessions.domain.lheo import (
    ImportOptions,
    LheoAction,
    LheoFileRefused,
    LheoFormation,
    LheoSession,
    UnsupportedVersion,
    read_offer,
)
from sessions.domain.lheo_export import ExportedAction, ExportedSession, build_document
from sessions.events.publish import publish_catalogue

router = APIRouter(tags=["catalogue"])

Status = Literal["created", "updated", "unchanged", "rejected"]
LHEO_MEDIA_TYPE = "application/xml"


class ReportItem(BaseModel):
    kind: Literal["formation", "action", "session"]
    status: Status
    lheo_id: str | None = Field(description="The element's `numero` (or a stable surrogate when the file gives none)")
    name: str = Field(description="The formation's title (intitule-formation)")
    path: str
    id: str | None = None
    reason: str | None = None
    defaults: list[str] = Field(default_factory=list, description="What LHEO lacked and where the value came from")


class ImportReport(BaseModel):
    lheo_version: str
    items: list[ReportItem]
    counts: dict[str, int]


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "The file is too large"


class UnsupportedLheo(Invalid):
    slug, title = "unsupported-lheo-version", "Unsupported LHEO version"


class InvalidLheo(Invalid):
    slug, title = "invalid-lheo", "The file is not valid LHEO"


def _same(current, new) -> bool:
    if isinstance(new, Decimal) and current is not None:
        return Decimal(current) == new
    return current == new


def _changes(row, fields: dict) -> dict:
    return {name: value for name, value in fields.items() if not _same(getattr(row, name), value)}


def _action_fields(parsed: LheoAction, programme: Programme) -> dict:
    fields = {k: v for k, v in parsed.fields.items() if k != "programme_code"}
    return {**fields, "programme_id": programme.id, "lheo_details": parsed.details}


def _session_fields(parsed: LheoSession) -> dict:
    return {
        "start_date": parsed.start_date,
        "end_date": parsed.end_date,
        "places": parsed.places,
        "permanent_entries": parsed.permanent_entries,
        "recruitment_state": parsed.recruitment_state,
        "information_meetings": [d.isoformat() for d in parsed.information_meetings],
    }


async def _by_key(db, model, key: str):
    """The row whose LHEO id is `key`; an exported row without LHEO id is exported under its own id."""
    row = (await db.execute(select(model).where(model.lheo_id == key))).unique().scalar_one_or_none()
    if row is None:
        try:
            own_id = uuid.UUID(key)
        except ValueError:
            return None
        row = (await db.execute(select(model).where(model.id == own_id, model.lheo_id.is_(None)))).unique().scalar_one_or_none()
    return row


async def _upsert_action(db, runtime, parsed: LheoAction, programme: Programme, items: list[ReportItem]) -> None:
    def item(status: Status, row_id=None, reason=None, **kw) -> ReportItem:
        return ReportItem(kind=kw.get("kind", "action"), status=status, lheo_id=kw.get("key", parsed.key), name=parsed.name,
                          path=kw.get("path", parsed.path), id=str(row_id) if row_id else None, reason=reason, defaults=kw.get("defaults", []))

    fields = _action_fields(parsed, programme)
    action = await _by_key(db, Action, parsed.key)
    action_changed = False
    if action is None:
        action = Action(lheo_id=parsed.key, version=1, **fields)
        db.add(action)
        await db.flush()
        items.append(item("created", action.id, defaults=parsed.defaults))
    else:
        changes = _changes(action, fields)
        if changes:
            for name, value in changes.items():
                setattr(action, name, value)
            action.version += 1
            await db.flush()
            action_changed = True
            items.append(item("updated", action.id, reason=f"changed: {', '.join(sorted(changes))}", defaults=parsed.defaults))
        else:
            items.append(item("unchanged", action.id, defaults=parsed.defaults))
    await db.refresh(action)

    for parsed_session in parsed.sessions:
        s_item = dict(kind="session", key=parsed_session.key, path=parsed_session.path, defaults=parsed_session.defaults)
        fields = _session_fields(parsed_session)
        session = await _by_key(db, TrainingSession, parsed_session.key)
        if session is None:
            session = TrainingSession(lheo_id=parsed_session.key, action_id=action.id, places_taken=0, version=1, **fields)
            db.add(session)
            await db.flush()
            await db.refresh(session)
            await publish_catalogue(runtime, db, SessionPublished, session)
            items.append(item("created", session.id, **s_item))
            continue
        if session.action_id != action.id:
            items.append(item("rejected", session.id, reason=f"session {parsed_session.key!r} belongs to another action", **s_item))
            continue
        if session.cancelled_at is not None:
            items.append(item("rejected", session.id, reason="the session is cancelled in the Pacte; a cancelled session is not reopened by an import", **s_item))
            continue
        changes = _changes(session, fields)
        if "places" in changes and changes["places"] < session.places_taken:
            items.append(item("rejected", session.id, reason=f"places {changes['places']} is below the {session.places_taken} places already taken", **s_item))
            continue
        if changes:
            for name, value in changes.items():
                setattr(session, name, value)
            session.version += 1
            await db.flush()
            await db.refresh(session)
            await publish_catalogue(runtime, db, SessionUpdated, session)
            items.append(item("updated", session.id, reason=f"changed: {', '.join(sorted(changes))}", **s_item))
        else:
            if action_changed:  # the action's new attributes reach the session's readers
                await db.refresh(session)
                await publish_catalogue(runtime, db, SessionUpdated, session)
            items.append(item("unchanged", session.id, **s_item))
    await assign_territories(db, await sessions_of_action(db, action.id))  # docs/territories.md


def _formation_status(statuses: list[str]) -> Status:
    if not statuses or all(s == "rejected" for s in statuses):
        return "rejected"
    for status in ("created", "updated"):
        if status in statuses:
            return status
    return "unchanged"


async def _import_formation(db, runtime, formation: LheoFormation, programmes: dict[str, Programme]) -> list[ReportItem]:
    items: list[ReportItem] = []
    for parsed in formation.actions:
        programme = programmes.get(parsed.fields["programme_code"])
        if programme is None:
            reason = f"unknown programme {parsed.fields['programme_code']!r}"
            items.append(ReportItem(kind="action", status="rejected", lheo_id=parsed.key, name=parsed.name, path=parsed.path, reason=reason, defaults=parsed.defaults))
            items += [
                ReportItem(kind="session", status="rejected", lheo_id=s.key, name=parsed.name, path=s.path, reason="its action is rejected")
                for s in parsed.sessions
            ]
            continue
        await _upsert_action(db, runtime, parsed, programme, items)
    items += [
        ReportItem(kind=r.kind, status="rejected", lheo_id=r.key, name=r.name, path=r.path, reason=r.reason)  # type: ignore[arg-type]
        for r in formation.rejections
    ]
    items.sort(key=lambda i: i.path)
    statuses = [i.status for i in items if i.kind != "formation"]
    reason = None
    if _formation_status(statuses) == "rejected":
        reason = next((i.reason for i in items if i.kind == "action"), None) or "no action could be imported"
    head = ReportItem(kind="formation", status=_formation_status(statuses), lheo_id=formation.key, name=formation.name, path=formation.path, reason=reason)
    return [head, *items]


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
    programme_code: Annotated[str | None, Query(description="Programme of the actions without extra 'code-dispositif'")] = None,
    places: Annotated[int | None, Query(ge=1, description="Places of the sessions without extra 'nombre-places' nor recrutement/nb-places")] = None,
):
    settings = runtime.settings
    data = await request.body()
    if len(data) > settings.lheo_max_bytes:
        raise PayloadTooLarge(f"the file exceeds {settings.lheo_max_bytes} bytes")
    if not data.strip():
        raise Invalid("the request body must be an LHEO XML file", field="body")
    options = ImportOptions(departements=frozenset(settings.departements), programme_code=programme_code, places=places)
    try:
        # Parsing and XSD validation are CPU-bound: a worker thread keeps the loop serving.
        offer = await anyio.to_thread.run_sync(read_offer, data, options)
    except UnsupportedVersion as refused:
        raise UnsupportedLheo(str(refused), errors=refused.errors) from None
    except LheoFileRefused as refused:
        raise InvalidLheo(str(refused), errors=refused.errors) from None

    programmes = {p.code: p for p in (await db.execute(select(Programme))).scalars()}
    items: list[ReportItem] = []
    for formation in offer.formations:
        items += await _import_formation(db, runtime, formation, programmes)
    await db.commit()
    counts = {status: sum(1 for i in items if i.status == status) for status in ("created", "updated", "unchanged", "rejected")}
    return ImportReport(lheo_version=offer.version, items=items, counts=counts)


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
    },
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
