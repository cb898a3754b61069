"""The training offer over HTTP: programmes, actions, sessions. The Region writes through the
use cases of app/catalogue.py (every change publishes); everyone in the Pacte reads."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.sessions import RecruitmentState
from pacte_common.errors import Forbidden, NotFound
from pacte_common.http import CODE, DEPARTEMENT, CursorParam, IfMatch, IsoDate, Page, etag
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import select

from sessions.api.access import ensure_session_visible
from sessions.api.schemas import (
    ActionIn,
    ActionOut,
    ActionPatch,
    ProgrammeIn,
    ProgrammeOut,
    ProgrammePatch,
    SessionCancelIn,
    SessionIn,
    SessionOut,
    SessionPatch,
)
from sessions.app import catalogue
from sessions.db.models import Action, Programme, TrainingSession
from sessions.events.publish import session_snapshot

router = APIRouter(tags=["catalogue"])

Region = Annotated[Principal, require_kind(OrgKind.REGION)]


def programme_out(programme: Programme) -> ProgrammeOut:
    return ProgrammeOut.model_validate(programme)


def action_out(action: Action) -> ActionOut:
    return ActionOut(
        id=action.id,
        lheo_id=action.lheo_id,
        programme_code=action.programme.code,
        organisation_siret=action.organisation_siret,
        delivering_siret=action.delivering_siret,
        delivering_name=action.delivering_name,
        version=action.version,
        title=action.title,
        rncp_code=action.rncp_code,
        formacode=action.formacode,
        certifying=action.certifying,
        hours_in_centre=action.hours_in_centre,
        hours_in_company=action.hours_in_company,
        weekly_hours=action.weekly_hours,
        hourly_price=action.hourly_price,
        part_time=action.part_time,
        distance_learning=action.distance_learning,
        modules=action.modules,
        skill_blocks=action.skill_blocks,
        departement=action.departement,
        territory_code=action.territory_code,
    )


def session_out(session: TrainingSession) -> SessionOut:
    return SessionOut(
        id=session.id,
        lheo_id=session.lheo_id,
        version=session.version,
        cancelled=session.cancelled_at is not None,
        cancel_reason=session.cancel_reason,
        **session_snapshot(session).model_dump(exclude={"version"}),
    )


# ---------------------------------------------------------------- programmes


@router.post("/programmes", status_code=201, response_model=ProgrammeOut, summary="Create a programme (dispositif)")
async def create_programme(body: ProgrammeIn, principal: Region, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    return answer_response(await catalogue.create_programme(
        db, runtime, principal, body.model_dump(mode="json"), payload=body, idempotency_key=idempotency_key, render=programme_out
    ))


@router.get("/programmes", response_model=list[ProgrammeOut], summary="All programmes")
async def list_programmes(principal: CurrentPrincipal, db: DbSession):
    return [programme_out(p) for p in (await db.execute(select(Programme).order_by(Programme.code))).scalars()]


@router.get("/programmes/{programme_id}", response_model=ProgrammeOut)
async def get_programme(programme_id: UUID, principal: CurrentPrincipal, db: DbSession):
    programme = await db.get(Programme, programme_id)
    if programme is None:
        raise NotFound("No such programme")
    return programme_out(programme)


@router.patch("/programmes/{programme_id}", response_model=ProgrammeOut, summary="Update a programme; its sessions are republished")
async def update_programme(programme_id: UUID, body: ProgrammePatch, principal: Region, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    programme = await catalogue.update_programme(db, runtime, programme_id, body.model_dump(mode="json", exclude_unset=True), if_match=if_match)
    response.headers["ETag"] = etag(programme.version)
    return programme_out(programme)


# ---------------------------------------------------------------- actions


@router.post("/actions", status_code=201, response_model=ActionOut, summary="Create an action (LHEO action)")
async def create_action(body: ActionIn, principal: Region, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    return answer_response(await catalogue.create_action(
        db, runtime, principal, body.model_dump(exclude={"programme_code"}), programme_code=body.programme_code,
        payload=body, idempotency_key=idempotency_key, render=action_out,
    ))


@router.get("/actions/{action_id}", response_model=ActionOut)
async def get_action(action_id: UUID, principal: CurrentPrincipal, db: DbSession):
    action = await db.get(Action, action_id)
    if action is None or (principal.org_kind is OrgKind.TRAINING_ORG and action.organisation_siret != principal.org_id):
        raise NotFound("No such action")
    if principal.org_kind is OrgKind.PAYING_AGENCY:
        raise Forbidden("The catalogue is read by the Region, training organisations and prescribers")
    return action_out(action)


@router.patch("/actions/{action_id}", response_model=ActionOut, summary="Update an action; its sessions are republished")
async def update_action(action_id: UUID, body: ActionPatch, principal: Region, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    action = await catalogue.update_action(db, runtime, action_id, body.model_dump(exclude_unset=True), if_match=if_match)
    response.headers["ETag"] = etag(action.version)
    return action_out(action)


# ---------------------------------------------------------------- sessions


@router.post("/sessions", status_code=201, response_model=SessionOut, summary="Create a session; publishes SessionPublished")
async def create_session(body: SessionIn, principal: Region, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    fields = {
        "action_id": body.action_id,
        "start_date": body.start_date,
        "end_date": body.end_date,
        "places": body.places,
        "permanent_entries": body.permanent_entries,
        "recruitment_state": body.recruitment_state.value,
        "information_meetings": [d.isoformat() for d in body.information_meetings],
        "lheo_id": body.lheo_id,
    }
    return answer_response(await catalogue.create_session(
        db, runtime, principal, fields, payload=body, idempotency_key=idempotency_key, render=session_out
    ))


@router.get("/sessions", response_model=Page[SessionOut], summary="Sessions, filtered and paginated (a training organisation sees its own)")
async def list_sessions(
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    recruitment_state: RecruitmentState | None = None,
    programme: Annotated[str | None, Query(pattern=CODE)] = None,
    organisation: Annotated[str | None, Query(pattern="^[0-9]{14}$", description="SIRET")] = None,
    departement: Annotated[str | None, Query(pattern=DEPARTEMENT)] = None,
    starts_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    starts_to: Annotated[IsoDate | None, Query(alias="to")] = None,
    cursor: CursorParam = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
):
    if principal.org_kind is OrgKind.PAYING_AGENCY:
        raise Forbidden("The catalogue is read by the Region, training organisations and prescribers")
    query = select(TrainingSession).join(Action, TrainingSession.action_id == Action.id).join(Programme, Action.programme_id == Programme.id)
    if principal.org_kind is OrgKind.TRAINING_ORG:
        query = query.where(Action.organisation_siret == principal.org_id)
    if recruitment_state:
        query = query.where(TrainingSession.recruitment_state == recruitment_state.value)
    if programme:
        query = query.where(Programme.code == programme)
    if organisation:
        query = query.where(Action.organisation_siret == organisation)
    if departement:
        query = query.where(Action.departement == departement)
    if starts_from:
        query = query.where(TrainingSession.end_date >= starts_from)
    if starts_to:
        query = query.where(TrainingSession.start_date <= starts_to)
    return await keyset_page(
        db, query, by_instant(TrainingSession.created_at, TrainingSession.id), cursor=cursor,
        limit=limit or runtime.settings.page_size_default, render=session_out,
    )


@router.get("/sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: UUID, principal: CurrentPrincipal, db: DbSession, response: Response):
    if principal.org_kind is OrgKind.PAYING_AGENCY:
        raise Forbidden("The catalogue is read by the Region, training organisations and prescribers")
    session = ensure_session_visible(principal, await db.get(TrainingSession, session_id))
    response.headers["ETag"] = etag(session.version)
    return session_out(session)


@router.patch("/sessions/{session_id}", response_model=SessionOut, summary="Update a session; publishes SessionUpdated (SessionClosed when closed)")
async def update_session(session_id: UUID, body: SessionPatch, principal: Region, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    session = await catalogue.update_session(db, runtime, session_id, body.model_dump(mode="json", exclude_unset=True), if_match=if_match)
    response.headers["ETag"] = etag(session.version)
    return session_out(session)


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, summary="Cancel a session; publishes SessionCancelled")
async def cancel_session(session_id: UUID, body: SessionCancelIn, principal: Region, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    session = await catalogue.cancel_session(db, runtime, session_id, reason=body.reason, if_match=if_match)
    response.headers["ETag"] = etag(session.version)
    return session_out(session)
