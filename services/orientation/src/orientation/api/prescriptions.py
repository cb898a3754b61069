"""Prescriptions over HTTP: creation by a prescriber, actions by each party, lists and history."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.clock import business_today, start_of_business_day
from pacte_common.contracts.people import PersonIdentity, PersonProfile
from pacte_common.db import utcnow
from pacte_common.errors import Conflict, Forbidden, Invalid, InvalidTransition
from pacte_common.http import (
    CODE,
    CursorParam,
    IfMatch,
    IsoDate,
    Page,
    check_if_match,
    decode_cursor,
    encode_cursor,
    etag,
    instant_key,
    key_instant,
)
from pacte_common.idempotency import IdempotencyKey, idempotent_create
from pacte_common.service import DbSession, Runtime, RuntimeDep
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from orientation.api.presenters import actions_for, present, summary
from orientation.api.schemas import (
    AnswerIn,
    CountsOut,
    HistoryOut,
    PositioningIn,
    PrescriptionCreate,
    PrescriptionOut,
    PrescriptionSummary,
    RefuseIn,
    ReorientIn,
    TransitionOut,
    WithdrawIn,
)
from orientation.db.models import CatalogueSession, Person, Prescription, PrescriptionTransition
from orientation.db.queries import (
    admissions_awaiting_entry,
    can_see,
    catalogue_session_for_update,
    chain_of,
    visible_prescription,
    visible_to,
)
from orientation.domain.catalogue import is_full, open_for_prescription
from orientation.domain.people import birth_date_problem
from orientation.domain.prescription import (
    Action,
    Status,
    TransitionNotAllowed,
    find_transition,
    prescriber_kind_from_code,
    role_of,
)
from orientation.settings import OrientationSettings
from orientation.workflow import apply_action, find_or_create_person, submit

log = logging.getLogger(__name__)

router = APIRouter(tags=["prescriptions"])

Prescriber = Annotated[Principal, require_kind(OrgKind.PRESCRIBER)]
PROBLEMS = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Your organisation kind may not do this"},
    404: {"description": "No such prescription visible to you"},
    409: {"description": "Action not allowed in the current state (current_state, allowed_actions)"},
    412: {"description": "If-Match does not match the current ETag"},
    422: {"description": "Invalid request (errors[].field names the field)"},
}


# ---------------------------------------------------------------- helpers


async def prescribable_session(session: AsyncSession, settings: OrientationSettings, session_id: UUID, field: str) -> CatalogueSession:
    """The target session must be known from the catalogue and open for recruitment, else a
    409 naming the field: the request is well-formed, the catalogue as it is now says no."""
    row = await session.get(CatalogueSession, session_id)
    if row is None:
        raise Conflict("unknown session: no such session published in the catalogue", slug="unknown-reference", field=field)
    if not open_for_prescription(row.recruitment_state, row.cancelled, settings.prescribable_recruitment_states):
        state = "cancelled" if row.cancelled else row.recruitment_state
        raise Conflict(f"the session is not open for recruitment (it is {state})", slug="session-not-open", field=field)
    return row


def _with_etag(response: Response, version: int, location: str | None = None) -> Response:
    response.headers["ETag"] = etag(version)
    if location:
        response.headers["Location"] = location
    return response


async def _answer(session: AsyncSession, runtime: Runtime, prescription: Prescription, principal: Principal, status: int = 200) -> JSONResponse:
    body = await present(session, runtime, prescription, principal, with_identity=True)
    # DOMAIN.md §7: every answer showing the identity is an access to personal data (ids only logged).
    log.info("personal data read", extra={"prescription_id": str(prescription.id), "by": principal.describe()})
    return _with_etag(JSONResponse(body.model_dump(mode="json"), status_code=status), prescription.version)


def _concurrent(prescription_id: UUID) -> Conflict:
    return Conflict(
        f"Prescription {prescription_id} was changed by another request meanwhile; reload it and retry",
        slug="concurrent-update",
        title="Concurrent update",
    )


async def _load_for_action(
    session: AsyncSession, principal: Principal, prescription_id: UUID, action: Action, if_match: str | None
) -> Prescription:
    """404 if not visible, 403 if the action is the other party's, 412 if stale, 409 if illegal now."""
    prescription = await visible_prescription(session, principal, prescription_id)
    role = role_of(action)
    if principal.org_kind.value != role.value:
        raise Forbidden(f"'{action.value}' is done by the {role.value.replace('_', ' ')}")
    check_if_match(if_match, prescription.version)
    status = Status(prescription.status)
    try:
        find_transition(status, action)
    except TransitionNotAllowed:
        raise InvalidTransition(action.value, status.value, actions_for(principal, status)) from None
    return prescription


async def _act(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    prescription_id: UUID,
    action: Action,
    if_match: str | None,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    changes: Callable[[Prescription, datetime], Awaitable[dict[str, Any]]] | dict[str, Any] | None = None,
) -> JSONResponse:
    prescription = await _load_for_action(session, principal, prescription_id, action, if_match)
    now = utcnow()
    if callable(changes):
        changes = await changes(prescription, now)
    try:
        await apply_action(
            session, runtime, prescription, action, actor=principal.describe(), at=now, reason=reason,
            details=details, changes=changes,
        )
        await session.commit()
    except StaleDataError:
        await session.rollback()
        raise _concurrent(prescription_id) from None
    return await _answer(session, runtime, prescription, principal)


# ---------------------------------------------------------------- creation


@router.post(
    "/prescriptions",
    status_code=201,
    response_model=PrescriptionOut,
    responses=PROBLEMS,
    summary="A prescriber proposes a person for a session",
)
async def create_prescription(
    body: PrescriptionCreate,
    principal: Prescriber,
    session: DbSession,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
):
    settings: OrientationSettings = runtime.settings
    problem = birth_date_problem(body.profile.birth_date, business_today(settings.business_timezone), settings.minimum_age_years)
    if problem:
        raise Invalid(problem, field="body.profile.birth_date")
    kind = body.prescriber_kind or prescriber_kind_from_code(principal.org_id, settings.prescriber_kind_by_code_prefix)
    if kind is None:
        raise Invalid(
            "name the prescriber kind: it cannot be derived from your structure code", field="body.prescriber_kind"
        )

    async def create() -> tuple[int, Any]:
        target = await prescribable_session(session, settings, body.session_id, "body.session_id")
        now = utcnow()
        identity = PersonIdentity(**body.identity.model_dump())
        person = await find_or_create_person(session, runtime, identity, body.profile, now)
        prescription = await submit(
            session, runtime, person=person, catalogue_session=target, profile=body.profile,
            prescriber_kind=kind.value, prescriber_code=principal.org_id,
            professional_project=body.professional_project, comment=body.comment, actor=principal.describe(), at=now,
        )
        return 201, await present(session, runtime, prescription, principal, with_identity=False)

    response = await idempotent_create(
        session, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-prescription", key=idempotency_key,
        payload=body, create=create,
    )
    created = response_body(response)
    return _with_etag(response, created["version"], f"/prescriptions/{created['id']}")


def response_body(response: JSONResponse) -> dict:
    return json.loads(response.body)


# ---------------------------------------------------------------- reads


@router.get("/prescriptions/counts", response_model=CountsOut, responses=PROBLEMS, summary="Counts by status for your structure")
async def count_prescriptions(
    principal: CurrentPrincipal,
    session: DbSession,
    runtime: RuntimeDep,
    session_id: UUID | None = None,
    from_: Annotated[IsoDate | None, Query(alias="from", description="Submitted on or after")] = None,
    to: Annotated[IsoDate | None, Query(description="Submitted on or before")] = None,
) -> CountsOut:
    query = select(Prescription.status, func.count()).where(visible_to(principal))
    query = _filtered(query, None, session_id, None, from_, to, runtime.settings.business_timezone).group_by(Prescription.status)
    found = dict((await session.execute(query)).tuples().all())
    counts = {status.value: int(found.get(status.value, 0)) for status in Status}
    return CountsOut(counts=counts, total=sum(counts.values()))


def _filtered(query, statuses, session_id, person_id, from_, to, timezone: str):
    if statuses:
        query = query.where(Prescription.status.in_([s.value for s in statuses]))
    if session_id:
        query = query.where(Prescription.session_id == session_id)
    if person_id:
        query = query.where(Prescription.person_id == person_id)
    if from_:
        query = query.where(Prescription.created_at >= start_of_business_day(timezone, from_))
    if to:
        query = query.where(
            Prescription.created_at < start_of_business_day(timezone, to + timedelta(days=1))
        )
    return query


@router.get("/prescriptions", response_model=Page[PrescriptionSummary], responses=PROBLEMS, summary="Your prescriptions")
async def list_prescriptions(
    principal: CurrentPrincipal,
    session: DbSession,
    runtime: RuntimeDep,
    status: Annotated[list[Status] | None, Query(description="One or more statuses")] = None,
    session_id: UUID | None = None,
    person_id: UUID | None = None,
    organisation_siret: Annotated[str | None, Query(pattern="^[0-9]{14}$", description="The training organisation (SIRET)")] = None,
    prescriber_code: Annotated[str | None, Query(pattern=CODE, description="The prescriber structure")] = None,
    from_: Annotated[IsoDate | None, Query(alias="from", description="Submitted on or after")] = None,
    to: Annotated[IsoDate | None, Query(description="Submitted on or before")] = None,
    cursor: CursorParam = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Page[PrescriptionSummary]:
    query = _filtered(
        select(Prescription).where(visible_to(principal)), status, session_id, person_id, from_, to, runtime.settings.business_timezone
    )
    if organisation_siret:
        query = query.where(Prescription.organisation_siret == organisation_siret)
    if prescriber_code:
        query = query.where(Prescription.prescriber_code == prescriber_code)
    after = decode_cursor(cursor)
    if after:
        created, last_id = key_instant(after.key), after.id
        query = query.where(
            or_(Prescription.created_at > created, and_(Prescription.created_at == created, Prescription.id > last_id))
        )
    size = limit or runtime.settings.default_page_size
    rows = (await session.scalars(query.order_by(Prescription.created_at, Prescription.id).limit(size + 1))).all()
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = encode_cursor(instant_key(rows[-1].created_at), rows[-1].id)
    return Page[PrescriptionSummary](items=[summary(r) for r in rows], next_cursor=next_cursor)


@router.get("/prescriptions/{prescription_id}", response_model=PrescriptionOut, responses=PROBLEMS, summary="One prescription (ETag)")
async def get_prescription(prescription_id: UUID, principal: CurrentPrincipal, session: DbSession, runtime: RuntimeDep):
    prescription = await visible_prescription(session, principal, prescription_id)
    return await _answer(session, runtime, prescription, principal)


@router.get("/prescriptions/{prescription_id}/history", response_model=HistoryOut, responses=PROBLEMS, summary="Who did what, when, why")
async def prescription_history(prescription_id: UUID, principal: CurrentPrincipal, session: DbSession) -> HistoryOut:
    prescription = await visible_prescription(session, principal, prescription_id)
    items: list[TransitionOut] = []
    for link in await chain_of(session, prescription):
        if not can_see(principal, link):
            continue
        rows = await session.scalars(
            select(PrescriptionTransition)
            .where(PrescriptionTransition.prescription_id == link.id)
            .order_by(PrescriptionTransition.sequence)
        )
        items.extend(TransitionOut.model_validate(row, from_attributes=True) for row in rows)
    return HistoryOut(prescription_id=prescription_id, items=items)


# ---------------------------------------------------------------- the training organisation's actions


@router.post("/prescriptions/{prescription_id}/positioning", response_model=PrescriptionOut, responses=PROBLEMS, summary="Schedule the positioning (information meeting, test, interview)")
async def schedule_positioning(
    prescription_id: UUID, body: PositioningIn, principal: CurrentPrincipal, session: DbSession, runtime: RuntimeDep, if_match: IfMatch = None
):
    return await _act(
        session, runtime, principal, prescription_id, Action.SCHEDULE_POSITIONING, if_match,
        reason=body.comment,
        details={"positioning_date": body.date.isoformat(), "positioning_kind": body.kind.value},
        changes={"positioning_date": body.date, "positioning_kind": body.kind.value},
    )


@router.post("/prescriptions/{prescription_id}/admit", response_model=PrescriptionOut, responses=PROBLEMS, summary="Admit (refused with 409 session-full when no place is left)")
async def admit(
    prescription_id: UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    body: Annotated[AnswerIn | None, Body()] = None,
):
    async def unless_full(prescription: Prescription, _now: datetime) -> dict[str, Any]:
        # The session row stays locked until the admission commits: concurrent admissions
        # count the places one after the other and the last place is given once.
        target = await catalogue_session_for_update(session, prescription.session_id)
        if target is not None:
            awaiting = await admissions_awaiting_entry(session, target.session_id)
            if is_full(target.recruitment_state, target.places, target.places_taken, awaiting):
                raise Conflict(
                    "The session is full: no place is left to admit this person; waitlist them instead",
                    slug="session-full",
                    title="Session full",
                    places=target.places,
                    places_taken=target.places_taken + awaiting,
                    current_state=prescription.status,
                    allowed_actions=[a for a in actions_for(principal, Status(prescription.status)) if a != "admit"],
                )
        return {"answer_comment": body.comment if body else None}

    return await _act(
        session, runtime, principal, prescription_id, Action.ADMIT, if_match,
        reason=body.comment if body else None, changes=unless_full,
    )


@router.post("/prescriptions/{prescription_id}/refuse", response_model=PrescriptionOut, responses=PROBLEMS, summary="Refuse with a coded reason")
async def refuse(
    prescription_id: UUID, body: RefuseIn, principal: CurrentPrincipal, session: DbSession, runtime: RuntimeDep, if_match: IfMatch = None
):
    return await _act(
        session, runtime, principal, prescription_id, Action.REFUSE, if_match,
        reason=body.comment, details={"reason_code": body.reason_code.value},
        changes={"refusal_reason": body.reason_code.value, "refusal_comment": body.comment},
    )


@router.post("/prescriptions/{prescription_id}/waitlist", response_model=PrescriptionOut, responses=PROBLEMS, summary="Put on the session's waiting list")
async def waitlist(
    prescription_id: UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    body: Annotated[AnswerIn | None, Body()] = None,
):
    async def queued(_prescription: Prescription, now: datetime) -> dict[str, Any]:
        return {"waitlisted_at": now, "answer_comment": body.comment if body else None}

    return await _act(
        session, runtime, principal, prescription_id, Action.WAITLIST, if_match,
        reason=body.comment if body else None, changes=queued,
    )


# ---------------------------------------------------------------- the prescriber's actions


@router.post("/prescriptions/{prescription_id}/withdraw", response_model=PrescriptionOut, responses=PROBLEMS, summary="Withdraw the prescription")
async def withdraw(
    prescription_id: UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    body: Annotated[WithdrawIn | None, Body()] = None,
):
    reason = body.reason if body else None
    return await _act(
        session, runtime, principal, prescription_id, Action.WITHDRAW, if_match,
        reason=reason, changes={"withdrawal_reason": reason},
    )


@router.post(
    "/prescriptions/{prescription_id}/reorient",
    status_code=201,
    response_model=PrescriptionOut,
    responses=PROBLEMS,
    summary="Bounce back: a new prescription to another session, linked to this one",
)
async def reorient(
    prescription_id: UUID,
    body: ReorientIn,
    principal: CurrentPrincipal,
    session: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
):
    settings: OrientationSettings = runtime.settings

    async def create() -> tuple[int, Any]:
        old = await _load_for_action(session, principal, prescription_id, Action.REORIENT, if_match)
        if old.next_prescription_id is not None:
            raise Conflict(
                f"This prescription was already reoriented to {old.next_prescription_id}",
                slug="already-reoriented",
                title="Already reoriented",
                next_prescription_id=str(old.next_prescription_id),
            )
        target = await prescribable_session(session, settings, body.session_id, "body.session_id")
        person = await session.get_one(Person, old.person_id)
        now = utcnow()

        new = await submit(
            session, runtime, person=person, catalogue_session=target,
            profile=PersonProfile.model_validate(old.profile), prescriber_kind=old.prescriber_kind,
            prescriber_code=old.prescriber_code,
            professional_project=body.professional_project or old.professional_project,
            comment=body.comment, actor=principal.describe(), at=now, previous=old,
        )
        await apply_action(
            session, runtime, old, Action.REORIENT, actor=principal.describe(), at=now, reason=body.comment,
            details={"new_prescription_id": str(new.id), "new_session_id": str(target.session_id)},
            changes={"next_prescription_id": new.id},
            event_fields={"new_prescription_id": new.id, "new_session_id": target.session_id},
        )
        return 201, await present(session, runtime, new, principal, with_identity=False)

    try:
        response = await idempotent_create(
            session, runtime.tables, hasher=runtime.hasher, principal=principal, operation=f"reorient:{prescription_id}",
            key=idempotency_key, payload=body, create=create,
        )
    except StaleDataError:
        await session.rollback()
        raise _concurrent(prescription_id) from None
    created = response_body(response)
    return _with_etag(response, created["version"], f"/prescriptions/{created['id']}")

