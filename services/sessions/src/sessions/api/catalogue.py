"""The training offer: programmes, actions, sessions. The Region writes; every change publishes."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.sessions import (
    RecruitmentState,
    SessionCancelled,
    SessionClosed,
    SessionPublished,
    SessionUpdated,
)
from pacte_common.db import utcnow
from pacte_common.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from pacte_common.http import (
    CODE,
    DEPARTEMENT,
    CursorParam,
    IfMatch,
    IsoDate,
    check_if_match,
    decode_cursor,
    encode_cursor,
    etag,
    instant_key,
    key_instant,
)
from pacte_common.idempotency import IdempotencyKey, idempotent_create
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import and_, or_, select

from sessions.api.access import ensure_session_visible
from sessions.api.schemas import (
    ActionIn,
    ActionOut,
    ActionPatch,
    Page,
    ProgrammeIn,
    ProgrammeOut,
    ProgrammePatch,
    SessionCancelIn,
    SessionIn,
    SessionOut,
    SessionPatch,
)
from sessions.app.territories import assign_territories
from sessions.db.models import Action, Programme, TrainingSession
from sessions.db.queries import sessions_of_action, sessions_of_programme
from sessions.events.publish import publish_catalogue, session_snapshot

router = APIRouter(tags=["catalogue"])

Region = Annotated[Principal, require_kind(OrgKind.REGION)]


async def locked(db, model, row_id: UUID):
    """The row, locked on PostgreSQL (only its own table: eager joins stay unlocked)."""
    query = select(model).where(model.id == row_id).with_for_update(of=model)
    return (await db.execute(query)).unique().scalar_one_or_none()


def programme_out(programme: Programme) -> ProgrammeOut:
    return ProgrammeOut.model_validate(programme)


def action_out(action: Action) -> ActionOut:
    return ActionOut(
        id=action.id,
        lheo_id=action.lheo_id,
        programme_code=action.programme.code,
        organisation_siret=action.organisation_siret,
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


def check_departement(runtime, departement: str | None, field: str = "body.departement") -> None:
    if departement is not None and departement not in runtime.settings.departements:
        raise Conflict(f"département must be one of {', '.join(sorted(runtime.settings.departements))}",
                       slug="outside-region", field=field)


async def programme_by_code(db, code: str, field: str = "body.programme_code") -> Programme:
    programme = (await db.execute(select(Programme).where(Programme.code == code))).scalar_one_or_none()
    if programme is None:
        raise Conflict(f"no programme with code {code!r}", slug="unknown-reference", field=field)
    return programme


# ---------------------------------------------------------------- programmes


@router.post("/programmes", status_code=201, response_model=ProgrammeOut, summary="Create a programme (dispositif)")
async def create_programme(body: ProgrammeIn, principal: Region, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    async def create():
        if (await db.execute(select(Programme.id).where(Programme.code == body.code))).first():
            raise Conflict(f"a programme with code {body.code!r} exists", field="body.code")
        programme = Programme(**body.model_dump(mode="json"), version=1)
        db.add(programme)
        await db.flush()
        return 201, programme_out(programme)

    return await idempotent_create(db, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-programme", key=idempotency_key, payload=body, create=create)


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
    programme = await locked(db, Programme, programme_id)
    if programme is None:
        raise NotFound("No such programme")
    check_if_match(if_match, programme.version)
    changes = {k: v for k, v in body.model_dump(mode="json", exclude_unset=True).items() if v is not None and getattr(programme, k) != v}
    if changes:
        for name, value in changes.items():
            setattr(programme, name, value)
        programme.version += 1
        await db.flush()
        for session in await sessions_of_programme(db, programme.id):
            await db.refresh(session)
            await publish_catalogue(runtime, db, SessionUpdated, session)
        await db.commit()
    response.headers["ETag"] = etag(programme.version)
    return programme_out(programme)


# ---------------------------------------------------------------- actions


@router.post("/actions", status_code=201, response_model=ActionOut, summary="Create an action (LHEO action)")
async def create_action(body: ActionIn, principal: Region, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    check_departement(runtime, body.departement)

    async def create():
        programme = await programme_by_code(db, body.programme_code)
        if body.lheo_id and (await db.execute(select(Action.id).where(Action.lheo_id == body.lheo_id))).first():
            raise Conflict(f"an action with LHEO id {body.lheo_id!r} exists", field="body.lheo_id")
        fields = body.model_dump(exclude={"programme_code"})
        action = Action(**fields, programme=programme, version=1)
        db.add(action)
        await db.flush()
        await db.refresh(action)  # amounts as stored (two decimals), as every later read shows them
        return 201, action_out(action)

    return await idempotent_create(db, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-action", key=idempotency_key, payload=body, create=create)


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
    action = await locked(db, Action, action_id)
    if action is None:
        raise NotFound("No such action")
    check_if_match(if_match, action.version)
    check_departement(runtime, body.departement)
    changes = body.model_dump(exclude_unset=True)
    if "programme_code" in changes:
        code = changes.pop("programme_code")
        if code is not None and code != action.programme.code:
            action.programme = await programme_by_code(db, code)
            changes["programme_id"] = action.programme.id
    changes = {k: v for k, v in changes.items() if (v is not None or k in ("weekly_hours", "rncp_code", "formacode", "territory_code")) and getattr(action, k) != v}
    if changes:
        for name, value in changes.items():
            setattr(action, name, value)
        action.version += 1
        await db.flush()
        await db.refresh(action)
        for session in await sessions_of_action(db, action.id):
            await publish_catalogue(runtime, db, SessionUpdated, session)
        await db.commit()
    response.headers["ETag"] = etag(action.version)
    return action_out(action)


# ---------------------------------------------------------------- sessions


@router.post("/sessions", status_code=201, response_model=SessionOut, summary="Create a session; publishes SessionPublished")
async def create_session(body: SessionIn, principal: Region, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    async def create():
        action = await db.get(Action, body.action_id)
        if action is None:
            raise Conflict("no action with this id", slug="unknown-reference", field="body.action_id")
        if body.lheo_id and (await db.execute(select(TrainingSession.id).where(TrainingSession.lheo_id == body.lheo_id))).first():
            raise Conflict(f"a session with LHEO id {body.lheo_id!r} exists", field="body.lheo_id")
        session = TrainingSession(
            action=action,
            action_id=action.id,
            start_date=body.start_date,
            end_date=body.end_date,
            places=body.places,
            places_taken=0,
            permanent_entries=body.permanent_entries,
            recruitment_state=body.recruitment_state.value,
            information_meetings=[d.isoformat() for d in body.information_meetings],
            lheo_id=body.lheo_id,
            version=1,
        )
        db.add(session)
        await db.flush()
        await assign_territories(db, [session])  # territory_code from the training place (docs/territories.md)
        await publish_catalogue(runtime, db, SessionPublished, session)
        return 201, session_out(session)

    return await idempotent_create(db, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-session", key=idempotency_key, payload=body, create=create)


@router.get("/sessions", response_model=Page, summary="Sessions, filtered and paginated (a training organisation sees its own)")
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
    return await paginate(db, query, TrainingSession, cursor, limit or runtime.settings.page_size_default, session_out)


async def paginate(db, query, model, cursor: str | None, limit: int, render) -> Page:
    """Keyset pagination on (created_at, id): stable while rows are added."""
    after = decode_cursor(cursor)
    if after is not None:
        created, last_id = key_instant(after.key), after.id
        query = query.where(or_(model.created_at > created, and_(model.created_at == created, model.id > last_id)))
    rows = list((await db.execute(query.order_by(model.created_at, model.id).limit(limit + 1))).unique().scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(instant_key(rows[-1].created_at), rows[-1].id)
    return Page(items=[render(row) for row in rows], next_cursor=next_cursor)


@router.get("/sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: UUID, principal: CurrentPrincipal, db: DbSession, response: Response):
    if principal.org_kind is OrgKind.PAYING_AGENCY:
        raise Forbidden("The catalogue is read by the Region, training organisations and prescribers")
    session = ensure_session_visible(principal, await db.get(TrainingSession, session_id))
    response.headers["ETag"] = etag(session.version)
    return session_out(session)


@router.patch("/sessions/{session_id}", response_model=SessionOut, summary="Update a session; publishes SessionUpdated (SessionClosed when closed)")
async def update_session(session_id: UUID, body: SessionPatch, principal: Region, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    session = await locked(db, TrainingSession, session_id)
    if session is None:
        raise NotFound("No such session")
    check_if_match(if_match, session.version)
    if session.cancelled_at is not None:
        raise InvalidTransition("update", "cancelled", [])
    changes = {k: v for k, v in body.model_dump(mode="json", exclude_unset=True).items() if v is not None}
    start = date.fromisoformat(changes.get("start_date", session.start_date.isoformat()))
    end = date.fromisoformat(changes.get("end_date", session.end_date.isoformat()))
    if end < start:
        raise Invalid("end_date must be on or after start_date", field="body.end_date")
    if "start_date" in changes:
        changes["start_date"] = start
    if "end_date" in changes:
        changes["end_date"] = end
    changes = {k: v for k, v in changes.items() if getattr(session, k) != v}
    if changes:
        for name, value in changes.items():
            setattr(session, name, value)
        session.version += 1
        await db.flush()
        closed = changes.get("recruitment_state") == RecruitmentState.CLOSED.value
        await publish_catalogue(runtime, db, SessionClosed if closed else SessionUpdated, session)
        await db.commit()
    response.headers["ETag"] = etag(session.version)
    return session_out(session)




@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, summary="Cancel a session; publishes SessionCancelled")
async def cancel_session(session_id: UUID, body: SessionCancelIn, principal: Region, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    session = await locked(db, TrainingSession, session_id)
    if session is None:
        raise NotFound("No such session")
    check_if_match(if_match, session.version)
    if session.cancelled_at is not None:
        raise InvalidTransition("cancel", "cancelled", [])
    if session.places_taken:
        raise Conflict(f"{session.places_taken} trainees have entered this session: exit or cancel their files first")
    session.cancelled_at = utcnow()
    session.cancel_reason = body.reason
    session.recruitment_state = RecruitmentState.CLOSED.value
    session.version += 1
    await db.flush()
    await publish_catalogue(runtime, db, SessionCancelled, session)
    await db.commit()
    response.headers["ETag"] = etag(session.version)
    return session_out(session)
