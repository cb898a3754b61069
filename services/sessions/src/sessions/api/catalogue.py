"""The training offer over HTTP: programmes, actions, sessions. The Region writes through the
use cases of app/catalogue.py (every change publishes); everyone in the Pacte reads."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.sessions import RecruitmentState
from pacte_common.errors import NotFound
from pacte_common.http import CODE, DEPARTEMENT, CursorParam, IfMatch, IsoDate, Page, etag
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import select

from sessions.api.access import (
    ensure_action_visible,
    ensure_catalogue_readable,
    ensure_session_visible,
    siret_seen_by,
)
from sessions.api.presenters.catalogue import action_out, programme_out, republish_out, session_out
from sessions.api.schemas import (
    ActionIn,
    ActionOut,
    ActionPatch,
    ProgrammeIn,
    ProgrammeOut,
    ProgrammePatch,
    RepublishOut,
    SessionCancelIn,
    SessionIn,
    SessionOut,
    SessionPatch,
)
from sessions.app import catalogue
from sessions.db.models import Action, Programme, TrainingSession

router = APIRouter(tags=["catalogue"])

Region = Annotated[Principal, require_kind(OrgKind.REGION)]


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
    return action_out(ensure_action_visible(principal, await db.get(Action, action_id)))


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
    ensure_catalogue_readable(principal)
    query = select(TrainingSession).join(Action, TrainingSession.action_id == Action.id).join(Programme, Action.programme_id == Programme.id)
    if (siret := siret_seen_by(principal)) is not None:
        query = query.where(Action.organisation_siret == siret)
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
    ensure_catalogue_readable(principal)
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


# ---------------------------------------------------------------- republication


@router.post("/catalogue/republish", response_model=RepublishOut,
             summary="Publish every session's snapshot again (the Region): for a reader that gained fields of it, or a new one")
async def republish_catalogue(principal: Region, db: DbSession, runtime: RuntimeDep):
    return republish_out(await catalogue.republish_catalogue(db, runtime))
