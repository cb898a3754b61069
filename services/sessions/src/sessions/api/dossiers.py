"""Training files over HTTP: direct enrolment, the lifecycle actions, attendance.

Each route parses, finds the file visible to the caller (404 otherwise) and writable by it
(403), calls one use case of app/dossiers.py (If-Match 412, the transition table 409 with the
allowed actions, the date rules 422 naming the field, then the change, its log row, its event
and the commit) and renders the file with its ETag.
"""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.people import MaskedIdentity, PersonIdentity, open_identity
from pacte_common.contracts.sessions import DossierStatus
from pacte_common.http import CursorParam, IfMatch, Page, etag
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import select

from sessions.api.access import (
    Today,
    can_read_session,
    dossiers_visible_to,
    ensure_dossier_readable,
    ensure_dossier_writable,
)
from sessions.api.presenters.dossiers import attendance_out, dossier_out
from sessions.api.schemas import (
    AttendanceIn,
    AttendanceOut,
    CancelIn,
    DossierIn,
    DossierOut,
    EntryIn,
    ExitIn,
    IdentityIn,
    InterruptionIn,
    ResumptionIn,
)
from sessions.app import dossiers as use_cases
from sessions.app.dossiers import Enrolment, ExitDeclaration
from sessions.db.models import (
    Action,
    Dossier,
    TrainingSession,
)
from sessions.db.queries import (
    current_statements,
    dossier_by_id,
    dossier_view_for_update,
    month_history,
    transitions_of,
)
from sessions.domain.training import MonthlyAttendance

log = logging.getLogger(__name__)
router = APIRouter(tags=["dossiers"])

Writer = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]
Month = Annotated[str, Path(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


def answered(dossier: Dossier, status_code: int = 200) -> Response:
    """The file rendered once, by its schema straight to JSON (what jsonable_encoder gave, without
    walking the dump a second time), with its ETag."""
    body = dossier_out(dossier).model_dump_json(by_alias=True)
    return Response(body, status_code=status_code, media_type="application/json", headers={"ETag": etag(dossier.version)})


async def writable(db, principal: Principal, dossier_id: UUID) -> Dossier:
    """The file, locked for the change, if the caller may declare on it (404 / 403 otherwise)."""
    return ensure_dossier_writable(principal, await dossier_by_id(db, dossier_id, for_update=True))


# ---------------------------------------------------------------- creation and reading


@router.post("/dossiers", status_code=201, response_model=DossierOut, summary="Direct enrolment by a training organisation")
async def create_dossier(body: DossierIn, principal: Writer, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    enrolment = Enrolment(
        session_id=body.session_id,
        person_id=body.person_id,
        identity=PersonIdentity(**body.identity.model_dump()),
        profile=body.profile.model_dump(mode="json"),
    )
    return answer_response(await use_cases.enrol(
        db, runtime, principal, enrolment, may_enrol_in=lambda session: can_read_session(principal, session),
        payload=body, idempotency_key=idempotency_key, render=dossier_out
    ))


@router.get("/dossiers/{dossier_id}", response_model=DossierOut, summary="A training file, with its identity masked and its history")
async def get_dossier(dossier_id: UUID, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep, response: Response):
    dossier = ensure_dossier_readable(principal, await dossier_by_id(db, dossier_id))
    identity = None
    if dossier.identity_encrypted:
        opened = open_identity(runtime.cipher, dossier.identity_encrypted)
        identity = MaskedIdentity.of(opened)
        # Access to personal data is logged: who read which file (never the data itself).
        log.info("personal data read", extra={"who": principal.describe(), "dossier_id": str(dossier.id)})
    response.headers["ETag"] = etag(dossier.version)
    return dossier_out(dossier, identity=identity, transitions=await transitions_of(db, dossier.id))


@router.get("/dossiers", response_model=Page[DossierOut], summary="Training files visible to the caller, filtered and paginated")
async def list_dossiers(
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    session_id: UUID | None = None,
    status: DossierStatus | None = None,
    prescription_id: UUID | None = None,
    person_id: UUID | None = None,
    cursor: CursorParam = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
):
    query = (select(Dossier).join(TrainingSession, Dossier.session_id == TrainingSession.id)
             .join(Action, TrainingSession.action_id == Action.id).where(dossiers_visible_to(principal)))
    if session_id:
        query = query.where(Dossier.session_id == session_id)
    if status:
        query = query.where(Dossier.status == status.value)
    if prescription_id:
        query = query.where(Dossier.prescription_id == prescription_id)
    if person_id:
        query = query.where(Dossier.person_id == person_id)
    return await keyset_page(
        db, query, by_instant(Dossier.created_at, Dossier.id), cursor=cursor,
        limit=limit or runtime.settings.page_size_default, render=dossier_out,
    )


@router.put("/dossiers/{dossier_id}/identity", response_model=DossierOut, summary="Complete or correct the identity (typically the NIR added later)")
async def put_identity(dossier_id: UUID, body: IdentityIn, principal: Writer, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    dossier = await use_cases.update_identity(
        db, runtime, await writable(db, principal, dossier_id), PersonIdentity(**body.model_dump()),
        actor=principal.describe(), if_match=if_match,
    )
    response.headers["ETag"] = etag(dossier.version)
    return dossier_out(dossier)


# ---------------------------------------------------------------- lifecycle


@router.post("/dossiers/{dossier_id}/entry", response_model=DossierOut, summary="Declare the entry in training")
async def declare_entry(dossier_id: UUID, body: EntryIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    # The file, its session (both locked) and what the rules and the events read, in one Core
    # statement: the entry is the hot path of the France Travail and AGORA flows.
    dossier = ensure_dossier_writable(principal, await dossier_view_for_update(db, dossier_id))
    dossier = await use_cases.declare_entry(
        db, runtime, dossier, entry_date=body.entry_date,
        actor=principal.describe(), today=today, if_match=if_match,
    )
    return answered(dossier)


@router.post("/dossiers/{dossier_id}/interruptions", status_code=201, response_model=DossierOut, summary="Declare an interruption (suspension)")
async def declare_interruption(dossier_id: UUID, body: InterruptionIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier = await use_cases.declare_interruption(
        db, runtime, await writable(db, principal, dossier_id), start_date=body.start_date, reason=body.reason,
        comment=body.comment, expected_return_date=body.expected_return_date,
        actor=principal.describe(), today=today, if_match=if_match,
    )
    return answered(dossier, 201)


@router.post("/dossiers/{dossier_id}/resumption", response_model=DossierOut, summary="Declare the resumption after an interruption")
async def declare_resumption(dossier_id: UUID, body: ResumptionIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier = await use_cases.declare_resumption(
        db, runtime, await writable(db, principal, dossier_id), resumption_date=body.resumption_date,
        actor=principal.describe(), today=today, if_match=if_match,
    )
    return answered(dossier)


@router.post("/dossiers/{dossier_id}/exit", response_model=DossierOut, summary="Declare the exit; computes realised hours and the solde")
async def declare_exit(dossier_id: UUID, body: ExitIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    declared = ExitDeclaration(
        exit_date=body.exit_date,
        kind=body.kind,
        dropout_reason=body.dropout_reason,
        comment=body.comment,
        certification_result=body.certification_result,
        skill_blocks_obtained=list(body.skill_blocks_obtained),
    )
    dossier = await use_cases.declare_exit(
        db, runtime, await writable(db, principal, dossier_id), declared, actor=principal.describe(), today=today, if_match=if_match
    )
    return answered(dossier)


@router.post("/dossiers/{dossier_id}/cancel", response_model=DossierOut, summary="Cancel a file (entry declared by mistake)")
async def cancel_dossier(dossier_id: UUID, body: CancelIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier = await use_cases.cancel(
        db, runtime, await writable(db, principal, dossier_id), reason=body.reason, actor=principal.describe(),
        today=today, if_match=if_match,
    )
    return answered(dossier)


# ---------------------------------------------------------------- attendance


@router.put("/dossiers/{dossier_id}/attendance/{month}", response_model=AttendanceOut, summary="Record or correct a monthly attendance statement")
async def put_attendance(dossier_id: UUID, month: Month, body: AttendanceIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today):
    recorded = await use_cases.record_attendance(
        db, runtime, await writable(db, principal, dossier_id), month, MonthlyAttendance(**body.model_dump()),
        actor=principal.describe(), today=today,
    )
    body_out = jsonable_encoder(attendance_out(recorded.statement, recorded.history))
    return JSONResponse(body_out, status_code=201 if recorded.created else 200)


@router.get("/dossiers/{dossier_id}/attendance", response_model=list[AttendanceOut], summary="Current monthly statements with their history (voided months included, marked voided)")
async def list_attendance(dossier_id: UUID, principal: CurrentPrincipal, db: DbSession):
    dossier = ensure_dossier_readable(principal, await dossier_by_id(db, dossier_id))
    return [attendance_out(s, (await month_history(db, dossier.id, s.month))[1:]) for s in await current_statements(db, dossier.id)]
