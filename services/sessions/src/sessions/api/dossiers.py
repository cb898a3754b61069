"""Training files: direct enrolment, the lifecycle actions, attendance.

Each action: find the file (404 if not visible), check If-Match (412), ask the transition
table (409 with the allowed actions), check the date rules (422 naming the field), then
change the file, log the transition, publish the event and commit — all or nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.people import (
    MaskedIdentity,
    PersonIdentity,
    open_identity,
    seal_identity,
)
from pacte_common.contracts.sessions import (
    DossierStatus,
    TraineeCancelled,
    TraineeEntered,
    TraineeExited,
    TraineeIdentityUpdated,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.db import utcnow
from pacte_common.errors import Conflict, Forbidden, Invalid, InvalidTransition
from pacte_common.http import CursorParam, IfMatch, check_if_match, etag
from pacte_common.idempotency import IdempotencyKey, idempotent_create
from pacte_common.service import DbSession, RuntimeDep
from pacte_common.tracing import trace_id_of
from sqlalchemy import select

from sessions.api.access import Today, ensure_dossier_readable, ensure_dossier_writable
from sessions.api.catalogue import paginate
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
    InterruptionOut,
    Page,
    ResumptionIn,
    TransitionOut,
)
from sessions.db.models import (
    Action,
    AttendanceStatement,
    Dossier,
    DossierTransition,
    Interruption,
    TrainingSession,
)
from sessions.db.queries import (
    as_attendance,
    count_places_taken,
    current_statements,
    dossier_by_id,
    log_transition,
    open_dossier,
    refresh_places,
    session_for_update,
)
from sessions.domain.calendar import WorkingCalendar
from sessions.domain.lifecycle import DOSSIER, STATUS_LABELS, DossierAction
from sessions.domain.training import (
    CENT,
    InterruptionSpan,
    MonthlyAttendance,
    RuleBroken,
    SessionPeriod,
    check_attendance,
    check_entry,
    check_exit,
    check_interruption,
    check_resumption,
    realised_cost,
)
from sessions.events.publish import publish_attendance, publish_trainee

log = logging.getLogger(__name__)
router = APIRouter(tags=["dossiers"])

Writer = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


def dossier_out(dossier: Dossier, *, identity: MaskedIdentity | None = None, transitions: list[DossierTransition] | None = None) -> DossierOut:
    status = DossierStatus(dossier.status)
    return DossierOut(
        id=dossier.id,
        session_id=dossier.session_id,
        person_id=dossier.person_id,
        prescription_id=dossier.prescription_id,
        prescriber_code=dossier.prescriber_code,
        programme_code=dossier.session.action.programme.code,
        organisation_siret=dossier.session.action.organisation_siret,
        status=status.value,
        status_label=STATUS_LABELS[status],
        allowed_actions=[a.value for a in DOSSIER.allowed_actions(status)],
        profile=dossier.profile,
        has_nir=dossier.has_nir,
        identity=identity,
        entry_date=dossier.entry_date,
        entry_declared_late=dossier.entry_declared_late,
        exit_date=dossier.exit_date,
        exit_kind=dossier.exit_kind,
        dropout_reason=dossier.dropout_reason,
        certification_result=dossier.certification_result,
        skill_blocks_obtained=dossier.skill_blocks_obtained or [],
        realised_hours=dossier.realised_hours,
        cost=dossier.cost,
        exit_declared_late=dossier.exit_declared_late,
        cancel_reason=dossier.cancel_reason,
        interruptions=[
            InterruptionOut(
                id=i.id,
                start_date=i.start_date,
                reason=i.reason,
                expected_return_date=i.expected_return_date,
                resumption_date=i.resumption_date,
                declared_late=i.declared_late,
            )
            for i in dossier.interruptions
        ],
        transitions=[TransitionOut.model_validate(t, from_attributes=True) for t in transitions] if transitions is not None else None,
        version=dossier.version,
        trace_id=trace_id_of(dossier.traceparent),
    )


def answered(dossier: Dossier, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(dossier_out(dossier)), status_code=status_code, headers={"ETag": etag(dossier.version)})


def calendar_of(runtime) -> WorkingCalendar:
    return WorkingCalendar(runtime.settings.holiday_country, runtime.settings.holiday_subdivision)


def is_late(runtime, declared: date, today: date) -> bool:
    return calendar_of(runtime).is_late(declared, today, runtime.settings.declaration_delay_working_days)


def spans(dossier: Dossier) -> list[InterruptionSpan]:
    return [InterruptionSpan(i.start_date, i.resumption_date) for i in dossier.interruptions]


async def load_for_action(db, principal: Principal, dossier_id: UUID, if_match: str | None, action: DossierAction):
    dossier = ensure_dossier_writable(principal, await dossier_by_id(db, dossier_id, for_update=True))
    check_if_match(if_match, dossier.version)
    return dossier, DOSSIER.step(dossier.status, action)


def rule(check, *args) -> None:
    try:
        check(*args)
    except RuleBroken as broken:
        raise Invalid(broken.message, field=broken.field) from None


# ---------------------------------------------------------------- creation and reading


@router.post("/dossiers", status_code=201, response_model=DossierOut, summary="Direct enrolment by a training organisation")
async def create_dossier(body: DossierIn, principal: Writer, db: DbSession, runtime: RuntimeDep, idempotency_key: IdempotencyKey):
    async def create():
        session = await session_for_update(db, body.session_id)
        if session is None or (principal.org_kind is OrgKind.TRAINING_ORG and session.action.organisation_siret != principal.org_id):
            raise Conflict("no session of yours with this id", slug="unknown-reference", field="body.session_id")
        identity = body.identity
        nir_hash = runtime.hasher.hash("nir", identity.nir) if identity.nir else None
        person_id = body.person_id
        if person_id is None and nir_hash:
            person_id = (await db.execute(select(Dossier.person_id).where(Dossier.nir_hash == nir_hash).limit(1))).scalar_one_or_none()
        person_id = person_id or uuid.uuid4()
        active = await db.execute(
            select(Dossier.id).where(
                Dossier.session_id == session.id,
                Dossier.person_id == person_id,
                Dossier.status.not_in([DossierStatus.CANCELLED.value]),
            )
        )
        if active.first():
            raise Conflict("this person already has a training file in this session")
        sealed = seal_identity(runtime.cipher, PersonIdentity(**identity.model_dump()))
        dossier = await open_dossier(
            runtime,
            db,
            session=session,
            person_id=person_id,
            profile=body.profile.model_dump(mode="json"),
            identity_encrypted=sealed,
            has_nir=identity.nir is not None,
            nir_hash=nir_hash,
            actor=principal.describe(),
            at=utcnow(),
        )
        return 201, dossier_out(dossier)

    return await idempotent_create(db, runtime.tables, hasher=runtime.hasher, principal=principal, operation="create-dossier", key=idempotency_key, payload=body, create=create)


@router.get("/dossiers/{dossier_id}", response_model=DossierOut, summary="A training file, with its identity masked and its history")
async def get_dossier(dossier_id: UUID, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep, response: Response):
    dossier = ensure_dossier_readable(principal, await dossier_by_id(db, dossier_id))
    identity = None
    if dossier.identity_encrypted:
        opened = open_identity(runtime.cipher, dossier.identity_encrypted)
        identity = MaskedIdentity.of(opened)
        # Access to personal data is logged: who read which file (never the data itself).
        log.info("personal data read", extra={"who": principal.describe(), "dossier_id": str(dossier.id)})
    transitions = list(
        (await db.execute(select(DossierTransition).where(DossierTransition.dossier_id == dossier.id).order_by(DossierTransition.id))).scalars()
    )
    response.headers["ETag"] = etag(dossier.version)
    return dossier_out(dossier, identity=identity, transitions=transitions)


@router.get("/dossiers", response_model=Page, summary="Training files visible to the caller, filtered and paginated")
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
    query = select(Dossier).join(TrainingSession, Dossier.session_id == TrainingSession.id).join(Action, TrainingSession.action_id == Action.id)
    match principal.org_kind:
        case OrgKind.TRAINING_ORG:
            query = query.where(Action.organisation_siret == principal.org_id)
        case OrgKind.PRESCRIBER:
            query = query.where(Dossier.prescriber_code == principal.org_id)
        case OrgKind.REGION:
            pass
        case _:
            raise Forbidden("Training files are read by the Region, training organisations and prescribers")
    if session_id:
        query = query.where(Dossier.session_id == session_id)
    if status:
        query = query.where(Dossier.status == status.value)
    if prescription_id:
        query = query.where(Dossier.prescription_id == prescription_id)
    if person_id:
        query = query.where(Dossier.person_id == person_id)
    return await paginate(db, query, Dossier, cursor, limit or runtime.settings.page_size_default, dossier_out)


@router.put("/dossiers/{dossier_id}/identity", response_model=DossierOut, summary="Complete or correct the identity (typically the NIR added later)")
async def put_identity(dossier_id: UUID, body: IdentityIn, principal: Writer, db: DbSession, runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    dossier = ensure_dossier_writable(principal, await dossier_by_id(db, dossier_id, for_update=True))
    check_if_match(if_match, dossier.version)
    if dossier.status == DossierStatus.CANCELLED.value:
        raise InvalidTransition("update-identity", dossier.status, [])
    nir_hash = runtime.hasher.hash("nir", body.nir) if body.nir else None
    if dossier.identity_encrypted:
        current = open_identity(runtime.cipher, dossier.identity_encrypted)
        if current == PersonIdentity(**body.model_dump()):
            response.headers["ETag"] = etag(dossier.version)
            return dossier_out(dossier)
    now = utcnow()
    dossier.identity_encrypted = seal_identity(runtime.cipher, PersonIdentity(**body.model_dump()))
    dossier.has_nir = body.nir is not None
    dossier.nir_hash = nir_hash
    dossier.version += 1
    log_transition(db, dossier, "update-identity", dossier.status, principal.describe(), now, reason="identity completed")
    await db.flush()
    await publish_trainee(runtime, db, TraineeIdentityUpdated, dossier, principal.describe(), now)
    await db.commit()
    response.headers["ETag"] = etag(dossier.version)
    return dossier_out(dossier)


# ---------------------------------------------------------------- lifecycle


@router.post("/dossiers/{dossier_id}/entry", response_model=DossierOut, summary="Declare the entry in training")
async def declare_entry(dossier_id: UUID, body: EntryIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier, step = await load_for_action(db, principal, dossier_id, if_match, DossierAction.ENTER)
    session = await session_for_update(db, dossier.session_id)
    period = SessionPeriod(session.start_date, session.end_date, session.places, session.permanent_entries)
    rule(check_entry, period, body.entry_date, await count_places_taken(db, session))
    late = is_late(runtime, body.entry_date, today)
    now = utcnow()
    dossier.status = step.target.value
    dossier.entry_date = body.entry_date
    dossier.entry_declared_late = late
    dossier.version += 1
    log_transition(db, dossier, step.action, step.source.value, principal.describe(), now, effective_date=body.entry_date, declared_late=late)
    await refresh_places(runtime, db, session)
    await publish_trainee(runtime, db, TraineeEntered, dossier, principal.describe(), now, entry_date=body.entry_date, declared_late=late)
    await db.commit()
    return answered(dossier)


@router.post("/dossiers/{dossier_id}/interruptions", status_code=201, response_model=DossierOut, summary="Declare an interruption (suspension)")
async def declare_interruption(dossier_id: UUID, body: InterruptionIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier, step = await load_for_action(db, principal, dossier_id, if_match, DossierAction.INTERRUPT)
    rule(check_interruption, dossier.entry_date, spans(dossier), body.start_date, body.expected_return_date)
    late = is_late(runtime, body.start_date, today)
    now = utcnow()
    interruption = Interruption(
        id=uuid.uuid4(),
        dossier_id=dossier.id,
        start_date=body.start_date,
        reason=body.reason.value,
        comment=body.comment,
        expected_return_date=body.expected_return_date,
        declared_late=late,
        created_at=now,
    )
    dossier.interruptions.append(interruption)
    dossier.status = step.target.value
    dossier.version += 1
    log_transition(db, dossier, step.action, step.source.value, principal.describe(), now, effective_date=body.start_date, declared_late=late, reason=body.reason.value)
    await db.flush()
    await publish_trainee(
        runtime, db, TraineeInterrupted, dossier, principal.describe(), now,
        interruption_id=interruption.id, start_date=body.start_date, reason=body.reason,
        expected_return_date=body.expected_return_date, declared_late=late,
    )
    await db.commit()
    return answered(dossier, 201)


@router.post("/dossiers/{dossier_id}/resumption", response_model=DossierOut, summary="Declare the resumption after an interruption")
async def declare_resumption(dossier_id: UUID, body: ResumptionIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier, step = await load_for_action(db, principal, dossier_id, if_match, DossierAction.RESUME)
    open_interruption = next(i for i in reversed(dossier.interruptions) if i.resumption_date is None)
    rule(check_resumption, InterruptionSpan(open_interruption.start_date, None), body.resumption_date)
    now = utcnow()
    open_interruption.resumption_date = body.resumption_date
    dossier.status = step.target.value
    dossier.version += 1
    late = is_late(runtime, body.resumption_date, today)
    log_transition(db, dossier, step.action, step.source.value, principal.describe(), now, effective_date=body.resumption_date, declared_late=late)
    await db.flush()
    await publish_trainee(runtime, db, TraineeResumed, dossier, principal.describe(), now, interruption_id=open_interruption.id, resumption_date=body.resumption_date)
    await db.commit()
    return answered(dossier)


@router.post("/dossiers/{dossier_id}/exit", response_model=DossierOut, summary="Declare the exit; computes realised hours and the solde")
async def declare_exit(dossier_id: UUID, body: ExitIn, principal: Writer, db: DbSession, runtime: RuntimeDep, today: Today, if_match: IfMatch = None):
    dossier, step = await load_for_action(db, principal, dossier_id, if_match, DossierAction.EXIT)
    rule(check_exit, dossier.entry_date, spans(dossier), body.exit_date)
    action = dossier.session.action
    unknown = [b for b in body.skill_blocks_obtained if action.skill_blocks and b not in action.skill_blocks]
    if unknown:
        raise Invalid(f"skill blocks not in the action's certification: {', '.join(unknown)}", field="body.skill_blocks_obtained")
    statements = await current_statements(db, dossier.id)
    after_exit = [s.month for s in statements if s.month > body.exit_date.strftime("%Y-%m")]
    if after_exit:
        raise Invalid(f"attendance is recorded after this exit date ({', '.join(after_exit)})", field="body.exit_date")
    realised = sum((as_attendance(s).realised_hours for s in statements), Decimal("0"))
    cost = realised_cost(realised, action.hourly_price)
    late = is_late(runtime, body.exit_date, today)
    now = utcnow()
    dossier.status = step.target.value
    dossier.exit_date = body.exit_date
    dossier.exit_kind = body.kind.value
    dossier.dropout_reason = body.dropout_reason.value if body.dropout_reason else None
    dossier.exit_comment = body.comment
    dossier.certification_result = body.certification_result.value if body.certification_result else None
    dossier.skill_blocks_obtained = list(body.skill_blocks_obtained)
    dossier.realised_hours = hours(realised)
    dossier.cost = cost
    dossier.exit_declared_late = late
    dossier.version += 1
    reason = body.kind.value + (f": {body.dropout_reason.value}" if body.dropout_reason else "")
    log_transition(db, dossier, step.action, step.source.value, principal.describe(), now, effective_date=body.exit_date, declared_late=late, reason=reason)
    await refresh_places(runtime, db, await session_for_update(db, dossier.session_id))
    await publish_trainee(
        runtime, db, TraineeExited, dossier, principal.describe(), now,
        exit_date=body.exit_date, exit_kind=body.kind, dropout_reason=body.dropout_reason,
        certification_result=body.certification_result, skill_blocks_obtained=list(body.skill_blocks_obtained),
        realised_hours=hours(realised), hourly_price=action.hourly_price, cost=cost, declared_late=late,
    )
    await db.commit()
    return answered(dossier)


@router.post("/dossiers/{dossier_id}/cancel", response_model=DossierOut, summary="Cancel a file (entry declared by mistake)")
async def cancel_dossier(dossier_id: UUID, body: CancelIn, principal: Writer, db: DbSession, runtime: RuntimeDep, if_match: IfMatch = None):
    dossier, step = await load_for_action(db, principal, dossier_id, if_match, DossierAction.CANCEL)
    now = utcnow()
    dossier.status = step.target.value
    dossier.cancel_reason = body.reason
    dossier.version += 1
    log_transition(db, dossier, step.action, step.source.value, principal.describe(), now, reason=body.reason)
    await refresh_places(runtime, db, await session_for_update(db, dossier.session_id))
    await publish_trainee(runtime, db, TraineeCancelled, dossier, principal.describe(), now, reason=body.reason)
    await db.commit()
    return answered(dossier)


# ---------------------------------------------------------------- attendance


def hours(value: Decimal) -> Decimal:
    """Hours as stored: two decimals, whether the row comes from the request or the database."""
    return Decimal(value).quantize(CENT)


def attendance_out(statement: AttendanceStatement, history: list[AttendanceStatement] | None = None) -> AttendanceOut:
    return AttendanceOut(
        dossier_id=statement.dossier_id,
        month=statement.month,
        version=statement.version,
        planned_hours=hours(statement.planned_hours),
        attended_hours=hours(statement.attended_hours),
        justified_absence_hours=hours(statement.justified_absence_hours),
        unjustified_absence_hours=hours(statement.unjustified_absence_hours),
        in_company_hours=hours(statement.in_company_hours),
        realised_hours=hours(as_attendance(statement).realised_hours),
        recorded_by=statement.recorded_by,
        recorded_at=statement.recorded_at,
        superseded_at=statement.superseded_at,
        history=[attendance_out(h) for h in history or []],
    )


async def month_history(db, dossier_id: UUID, month: str) -> list[AttendanceStatement]:
    query = (
        select(AttendanceStatement)
        .where(AttendanceStatement.dossier_id == dossier_id, AttendanceStatement.month == month)
        .order_by(AttendanceStatement.version.desc())
    )
    return list((await db.execute(query)).scalars())


@router.put("/dossiers/{dossier_id}/attendance/{month}", response_model=AttendanceOut, summary="Record or correct a monthly attendance statement")
async def put_attendance(dossier_id: UUID, month: Month, body: AttendanceIn, principal: Writer, db: DbSession, runtime: RuntimeDep):
    dossier = ensure_dossier_writable(principal, await dossier_by_id(db, dossier_id, for_update=True))
    if dossier.status == DossierStatus.CANCELLED.value:
        raise InvalidTransition("record-attendance", dossier.status, [], detail="a cancelled file takes no attendance")
    statement = MonthlyAttendance(**body.model_dump())
    rule(check_attendance, statement, month, dossier.entry_date, dossier.exit_date)
    history = await month_history(db, dossier.id, month)
    current = history[0] if history else None
    if current is not None and as_attendance(current) == statement:
        return JSONResponse(jsonable_encoder(attendance_out(current, history[1:])), status_code=200)  # same statement again: nothing new
    now = utcnow()
    if current is not None:
        current.current = False
        current.superseded_at = now
        await db.flush()
    recorded = AttendanceStatement(
        id=uuid.uuid4(),
        dossier_id=dossier.id,
        month=month,
        version=(current.version + 1) if current else 1,
        current=True,
        recorded_by=principal.describe(),
        recorded_at=now,
        **body.model_dump(),
    )
    db.add(recorded)
    await db.flush()
    await publish_attendance(runtime, db, dossier, recorded)
    await db.commit()
    return JSONResponse(jsonable_encoder(attendance_out(recorded, history)), status_code=201 if current is None else 200)


@router.get("/dossiers/{dossier_id}/attendance", response_model=list[AttendanceOut], summary="Current monthly statements with their history")
async def list_attendance(dossier_id: UUID, principal: CurrentPrincipal, db: DbSession):
    dossier = ensure_dossier_readable(principal, await dossier_by_id(db, dossier_id))
    return [attendance_out(s, (await month_history(db, dossier.id, s.month))[1:]) for s in await current_statements(db, dossier.id)]

