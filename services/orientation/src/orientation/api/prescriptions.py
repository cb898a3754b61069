"""Prescriptions over HTTP: creation by a prescriber, actions by each party, lists and history.

Each route parses, authorises (the prescription visible to the caller, the action the
caller's), calls one use case of app/prescriptions.py and renders the answer with its ETag.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import JSONResponse
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.people import PersonIdentity
from pacte_common.http import CODE, CursorParam, IfMatch, IsoDate, Page, etag
from pacte_common.idempotency import Answer, IdempotencyKey, answer_response
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, Runtime, RuntimeDep
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.api.access import (
    ensure_action_doable,
    ensure_prescription_readable,
    may_see_prescription,
    prescriptions_visible_to,
)
from orientation.api.presenters import (
    counts_out,
    prescription_out,
    prescription_summary_out,
    transition_out,
)
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
from orientation.app import prescriptions as use_cases
from orientation.app.prescriptions import Actor, Render, Submission
from orientation.db.models import Prescription
from orientation.db.queries import chain_of, filtered, prescription_with_person, transitions_of
from orientation.domain.prescription import Action, Status, role_of

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


def done_by(action: Action) -> Any:
    """A route dependency: the caller's kind is checked against the action's role before its body
    is read, so the other party gets 403, never a 422 about a body it may not send."""

    def check(principal: CurrentPrincipal) -> None:
        ensure_action_doable(principal, action)

    return Depends(check)


async def _readable(db: AsyncSession, principal: Principal, prescription_id: UUID) -> Prescription:
    return ensure_prescription_readable(principal, await db.get(Prescription, prescription_id), prescription_id)


async def _authorised(db: AsyncSession, principal: Principal, prescription_id: UUID, action: Action) -> tuple[Prescription, Actor]:
    """404 if the prescription is not visible to the caller, 403 if the action is the other party's."""
    ensure_action_doable(principal, action)
    prescription = await _readable(db, principal, prescription_id)
    return prescription, Actor(principal.describe(), role_of(action))


def _with_etag(response: Response, version: int, location: str | None = None) -> Response:
    response.headers["ETag"] = etag(version)
    if location:
        response.headers["Location"] = location
    return response


def _created(answer: Answer) -> Response:
    """A creation's answer (maybe an idempotent replay) with its ETag and Location."""
    created = answer.body
    return _with_etag(answer_response(answer), created["version"], f"/prescriptions/{created['id']}")


def _renderer(db: AsyncSession, runtime: Runtime, principal: Principal) -> Render:
    async def render(prescription: Any, person: Any) -> PrescriptionOut:
        return await prescription_out(db, runtime, prescription, principal, with_identity=False, person=person)

    return render


async def _answer(
    db: AsyncSession, runtime: Runtime, prescription: Any, principal: Principal, person: Any = None
) -> JSONResponse:
    body = await prescription_out(db, runtime, prescription, principal, with_identity=True, person=person)
    # docs/rules.md §7.3: every answer showing the identity is an access to personal data (ids only logged).
    log.info("personal data read", extra={"prescription_id": str(prescription.id), "by": principal.describe()})
    return _with_etag(JSONResponse(body.model_dump(mode="json")), prescription.version)


# ---------------------------------------------------------------- creation


@router.post(
    "/prescriptions",
    status_code=201,
    response_model=PrescriptionOut,
    responses=PROBLEMS,
    summary="A prescriber proposes a person for a session",
)
async def create_prescription(
    body: PrescriptionCreate, principal: Prescriber, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey = None
):
    submission = Submission(
        session_id=body.session_id,
        identity=PersonIdentity(**body.identity.model_dump()),
        profile=body.profile,
        prescriber_kind=body.prescriber_kind,
        professional_project=body.professional_project,
        comment=body.comment,
    )
    response = await use_cases.submit(
        db, runtime, principal, submission, payload=body, idempotency_key=idempotency_key,
        render=_renderer(db, runtime, principal),
    )
    return _created(response)


# ---------------------------------------------------------------- reads


@router.get("/prescriptions/counts", response_model=CountsOut, responses=PROBLEMS, summary="Counts by status for your structure")
async def count_prescriptions(
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    session_id: UUID | None = None,
    from_: Annotated[IsoDate | None, Query(alias="from", description="Submitted on or after")] = None,
    to: Annotated[IsoDate | None, Query(description="Submitted on or before")] = None,
) -> CountsOut:
    query = select(Prescription.status, func.count()).where(prescriptions_visible_to(principal))
    query = filtered(query, session_id=session_id, from_=from_, to=to, timezone=runtime.settings.business_timezone)
    found = dict((await db.execute(query.group_by(Prescription.status))).tuples().all())
    return counts_out(found)


@router.get("/prescriptions", response_model=Page[PrescriptionSummary], responses=PROBLEMS, summary="Your prescriptions")
async def list_prescriptions(
    principal: CurrentPrincipal,
    db: DbSession,
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
    query = filtered(
        select(Prescription).where(prescriptions_visible_to(principal)), statuses=status, session_id=session_id, person_id=person_id,
        from_=from_, to=to, timezone=runtime.settings.business_timezone,
    )
    if organisation_siret:
        query = query.where(Prescription.organisation_siret == organisation_siret)
    if prescriber_code:
        query = query.where(Prescription.prescriber_code == prescriber_code)
    return await keyset_page(
        db, query, by_instant(Prescription.created_at, Prescription.id), cursor=cursor,
        limit=limit or runtime.settings.default_page_size, render=prescription_summary_out,
    )


@router.get("/prescriptions/{prescription_id}", response_model=PrescriptionOut, responses=PROBLEMS, summary="One prescription (ETag)")
async def get_prescription(prescription_id: UUID, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep):
    # One statement: the prescription's columns with its person's sealed identity (docs/scaling.md).
    found = await prescription_with_person(db, prescription_id)
    prescription = ensure_prescription_readable(principal, found, prescription_id)
    return await _answer(db, runtime, prescription, principal, person=prescription)


@router.get("/prescriptions/{prescription_id}/history", response_model=HistoryOut, responses=PROBLEMS, summary="Who did what, when, why")
async def prescription_history(prescription_id: UUID, principal: CurrentPrincipal, db: DbSession) -> HistoryOut:
    prescription = await _readable(db, principal, prescription_id)
    items: list[TransitionOut] = []
    for link in await chain_of(db, prescription):
        if may_see_prescription(principal, link):
            items.extend(transition_out(row) for row in await transitions_of(db, link.id))
    return HistoryOut(prescription_id=prescription_id, items=items)


# ---------------------------------------------------------------- the training organisation's actions


@router.post("/prescriptions/{prescription_id}/positioning", response_model=PrescriptionOut, responses=PROBLEMS, dependencies=[done_by(Action.SCHEDULE_POSITIONING)], summary="Schedule the positioning (information meeting, test, interview)")
async def schedule_positioning(
    prescription_id: UUID, body: PositioningIn, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep, if_match: IfMatch = None
):
    prescription, by = await _authorised(db, principal, prescription_id, Action.SCHEDULE_POSITIONING)
    await use_cases.schedule_positioning(
        db, runtime, prescription, by, if_match=if_match, day=body.date, kind=body.kind, comment=body.comment
    )
    return await _answer(db, runtime, prescription, principal)


@router.post("/prescriptions/{prescription_id}/admit", response_model=PrescriptionOut, responses=PROBLEMS, dependencies=[done_by(Action.ADMIT)], summary="Admit (refused with 409 session-full when no place is left)")
async def admit_prescription(
    prescription_id: UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    body: Annotated[AnswerIn | None, Body()] = None,
):
    prescription, by = await _authorised(db, principal, prescription_id, Action.ADMIT)
    await use_cases.admit(db, runtime, prescription, by, if_match=if_match, comment=body.comment if body else None)
    return await _answer(db, runtime, prescription, principal)


@router.post("/prescriptions/{prescription_id}/refuse", response_model=PrescriptionOut, responses=PROBLEMS, dependencies=[done_by(Action.REFUSE)], summary="Refuse with a coded reason")
async def refuse_prescription(
    prescription_id: UUID, body: RefuseIn, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep, if_match: IfMatch = None
):
    prescription, by = await _authorised(db, principal, prescription_id, Action.REFUSE)
    await use_cases.refuse(
        db, runtime, prescription, by, if_match=if_match, reason_code=body.reason_code, comment=body.comment
    )
    return await _answer(db, runtime, prescription, principal)


@router.post("/prescriptions/{prescription_id}/waitlist", response_model=PrescriptionOut, responses=PROBLEMS, dependencies=[done_by(Action.WAITLIST)], summary="Put on the session's waiting list")
async def waitlist_prescription(
    prescription_id: UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    body: Annotated[AnswerIn | None, Body()] = None,
):
    prescription, by = await _authorised(db, principal, prescription_id, Action.WAITLIST)
    await use_cases.waitlist(db, runtime, prescription, by, if_match=if_match, comment=body.comment if body else None)
    return await _answer(db, runtime, prescription, principal)


# ---------------------------------------------------------------- the prescriber's actions


@router.post("/prescriptions/{prescription_id}/withdraw", response_model=PrescriptionOut, responses=PROBLEMS, dependencies=[done_by(Action.WITHDRAW)], summary="Withdraw the prescription")
async def withdraw_prescription(
    prescription_id: UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    body: Annotated[WithdrawIn | None, Body()] = None,
):
    prescription, by = await _authorised(db, principal, prescription_id, Action.WITHDRAW)
    await use_cases.withdraw(db, runtime, prescription, by, if_match=if_match, reason=body.reason if body else None)
    return await _answer(db, runtime, prescription, principal)


@router.post(
    "/prescriptions/{prescription_id}/reorient",
    dependencies=[done_by(Action.REORIENT)],
    status_code=201,
    response_model=PrescriptionOut,
    responses=PROBLEMS,
    summary="Bounce back: a new prescription to another session, linked to this one",
)
async def reorient_prescription(
    prescription_id: UUID,
    body: ReorientIn,
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
):
    old, by = await _authorised(db, principal, prescription_id, Action.REORIENT)
    response = await use_cases.reorient(
        db, runtime, old, by, principal, if_match=if_match, session_id=body.session_id,
        professional_project=body.professional_project, comment=body.comment,
        payload=body, idempotency_key=idempotency_key, render=_renderer(db, runtime, principal),
    )
    return _created(response)
