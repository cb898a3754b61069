"""The attendance API: schedule, signatures, countersignatures, absences, the month, flags."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.fair_share import FAIR_SHARE_RESPONSES, RateLimited
from pacte_common.http import CursorParam, LimitParam, Page
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, RuntimeDep

from attendance.api.access import caller_of
from attendance.api.deps import Now, RequestEvidence, Settings
from attendance.api.presenters import (
    absence_out,
    absence_reasons_out,
    change_out,
    closure_out,
    countersignature_out,
    flag_out,
    half_day_out,
    link_out,
    pass_out,
    qr_out,
    schedule_out,
    sheet_out,
    signature_out,
)
from attendance.api.schemas import (
    CONSENT,
    AbsenceIn,
    AbsenceOut,
    ChangeOut,
    ClosureOut,
    CorrectionIn,
    CountersignatureOut,
    CountersignIn,
    FlagOut,
    HalfDayOut,
    HalfDayPatch,
    LinkIn,
    LinkOut,
    LinkSignIn,
    PassOut,
    PatternIn,
    QrOut,
    QrSignIn,
    ReasonOut,
    ScheduleOut,
    SheetOut,
    SignatureOut,
    TrainerSignIn,
)
from attendance.app import flags, months, schedule, signing
from attendance.db.models import FraudFlag

router = APIRouter(tags=["attendance"])
Organisation = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG)]
Reader = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]
Month = Annotated[str, Path(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
SIGNING = {403: {"description": "Not a valid link, QR code or pass, or one for another trainee or half-day"},
           404: {"description": "Unknown half-day or trainee"},
           409: {"description": "Outside the half-day's signing window, half-day cancelled, or corrected by the organisation"},
           410: {"description": "Expired link, pass or QR code: the answer says how to get a new one"},
           **{k: v for k, v in FAIR_SHARE_RESPONSES.items() if k == 429}}


@router.post("/sessions/{session_id}/schedule/pattern", status_code=201, response_model=ScheduleOut,
             summary="Plan half-days from a weekly pattern (French public holidays and closures left out)")
async def plan_pattern(session_id: UUID, body: PatternIn, principal: Organisation, db: DbSession):
    request = {"first_day": body.first_day, "last_day": body.last_day, "weekdays": body.weekdays,
               "slots": {"morning": schedule.rules.Slot(body.morning.starts_at, body.morning.ends_at),
                         "afternoon": schedule.rules.Slot(body.afternoon.starts_at, body.afternoon.ends_at)},
               "closures": [(c.first_day, c.last_day) for c in body.closures],
               "place": body.place, "distance": body.distance, "trainer": body.trainer}
    created, kept, skipped = await schedule.generate(db, caller_of(principal), session_id, request)
    return schedule_out(created, kept, skipped)


@router.post("/sessions/{session_id}/schedule/icalendar", status_code=201, response_model=ScheduleOut,
             summary="Import half-days from an iCalendar file (text/calendar body, one VEVENT per half-day)",
             openapi_extra={"requestBody": {"required": True, "content": {"text/calendar": {"schema": {
                 "type": "string", "description": "RFC 5545: VEVENTs with DTSTART and DTEND (times), LOCATION, ORGANIZER;CN"}}}}})
async def import_icalendar(session_id: UUID, request: Request, principal: Organisation, db: DbSession, settings: Settings):
    created, kept = await schedule.import_file(db, caller_of(principal), session_id, "ical", await request.body(), settings.timezone)
    return schedule_out(created, kept)


@router.post("/sessions/{session_id}/schedule/csv", status_code=201, response_model=ScheduleOut,
             summary="Import half-days from a CSV file (text/csv body, one row per half-day; all or nothing)",
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
                 "type": "string", "description": "Header row then one row per half-day; ';' or ',' separated; columns "
                 "date, half, start, end, hours, place, distance, trainer (docs/attendance.md §1)"}}}}},
             responses={422: {"description": "Bad rows: each error names its `row` (the header is row 1) and `column`; nothing imported"}})
async def import_csv(session_id: UUID, request: Request, principal: Organisation, db: DbSession, settings: Settings):
    created, kept = await schedule.import_file(db, caller_of(principal), session_id, "csv", await request.body(), settings.timezone)
    return schedule_out(created, kept)


@router.get("/sessions/{session_id}/half-days", response_model=list[HalfDayOut], summary="The session's planned half-days")
async def list_half_days(session_id: UUID, principal: Reader, db: DbSession):
    session = await schedule.session_for(db, caller_of(principal), session_id)
    return [half_day_out(h) for h in await schedule.half_days_of(db, session.id)]


@router.patch("/half-days/{half_day_id}", response_model=HalfDayOut, summary="Change a planned half-day (signatures kept, change logged)")
async def edit_half_day(half_day_id: UUID, body: HalfDayPatch, principal: Organisation, db: DbSession):
    changes = body.model_dump(exclude_unset=True, exclude={"reason", "version"})
    return half_day_out(await schedule.edit(db, caller_of(principal), half_day_id, changes, body.reason, body.version))


@router.get("/half-days/{half_day_id}/changes", response_model=list[ChangeOut], summary="The half-day's change log")
async def half_day_changes(half_day_id: UUID, principal: Reader, db: DbSession):
    await schedule.half_day_for(db, caller_of(principal), half_day_id)
    return [change_out(c) for c in await schedule.changes_of(db, half_day_id)]


@router.post("/half-days/{half_day_id}/links", status_code=201, response_model=LinkOut,
             summary="A trainee's personal one-time signing link for this half-day (signed, expiring)")
async def issue_link(half_day_id: UUID, body: LinkIn, principal: Organisation, db: DbSession, settings: Settings, now: Now):
    token, expires = await signing.issue_link(db, settings, caller_of(principal), half_day_id, body.dossier_id, now)
    return link_out(token, expires, settings.public_url)


@router.get("/half-days/{half_day_id}/qr", response_model=QrOut, summary="The room's QR code now (changes every qr_window_s)")
async def qr_code(half_day_id: UUID, principal: Organisation, db: DbSession, settings: Settings, now: Now):
    token, until = await signing.qr_code(db, settings, caller_of(principal), half_day_id, now)
    return qr_out(token, until, now, settings.public_url)


@router.get("/sessions/{session_id}/passes/{dossier_id}", response_model=PassOut,
            summary="A trainee's pass: with the room's QR code, signs without an account")
async def trainee_pass(session_id: UUID, dossier_id: UUID, principal: Organisation, db: DbSession, settings: Settings, now: Now):
    return pass_out(await signing.trainee_pass(db, settings, caller_of(principal), session_id, dossier_id, now))


def _answer(response: Response, pair) -> SignatureOut:
    signature, created = pair
    response.status_code = 201 if created else 200
    return signature_out(signature)


@router.post("/signatures/link", status_code=201, response_model=SignatureOut, responses=SIGNING,
             summary="Sign with a personal link (no account; the same again gives the same signature, 200)",
             dependencies=[RateLimited("signing")])
async def sign_by_link(body: LinkSignIn, response: Response, db: DbSession, settings: Settings, now: Now, evidence: RequestEvidence):
    return _answer(response, await signing.sign_by_link(db, settings, body.token, body.half_day_id, body.dossier_id, CONSENT,
                                                        body.drawn_sha256, evidence, now))


@router.post("/signatures/qr", status_code=201, response_model=SignatureOut, responses=SIGNING,
             summary="Sign with the room's QR code and the trainee's pass", dependencies=[RateLimited("signing")])
async def sign_by_qr(body: QrSignIn, response: Response, db: DbSession, settings: Settings, now: Now, evidence: RequestEvidence):
    return _answer(response, await signing.sign_by_qr(db, settings, body.qr_token, body.pass_token, CONSENT, evidence, now))


@router.post("/half-days/{half_day_id}/signatures", status_code=201, response_model=SignatureOut, responses=SIGNING,
             summary="A trainee signs on the trainer's device")
async def sign_on_trainer_device(half_day_id: UUID, body: TrainerSignIn, response: Response, principal: Organisation, db: DbSession,
                                 settings: Settings, now: Now, evidence: RequestEvidence):
    return _answer(response, await signing.sign_on_trainer_device(db, settings, caller_of(principal), half_day_id, body.dossier_id, CONSENT,
                                                                  body.drawn_sha256, evidence, now))


@router.post("/half-days/{half_day_id}/corrections", status_code=201, response_model=SignatureOut,
             summary="Correct a trainee's half-day: a new record with its author and reason (nothing is changed)")
async def correct(half_day_id: UUID, body: CorrectionIn, principal: Organisation, db: DbSession, now: Now):
    return signature_out(await signing.correct(db, caller_of(principal), half_day_id, body.dossier_id, body.present, body.reason, now))


@router.post("/half-days/{half_day_id}/countersignature", status_code=201, response_model=CountersignatureOut,
             summary="The trainer countersigns the half-day's sheet")
async def countersign(half_day_id: UUID, body: CountersignIn, response: Response, principal: Organisation, db: DbSession,
                      settings: Settings, now: Now, evidence: RequestEvidence):
    record, created = await signing.countersign(db, settings, caller_of(principal), half_day_id, body.trainer, evidence, now)
    response.status_code = 201 if created else 200
    return countersignature_out(record)


@router.post("/half-days/{half_day_id}/absences", status_code=201, response_model=AbsenceOut,
             summary="Declare an absence (justified: coded reason and proof reference), a late arrival or an early departure")
async def record_absence(half_day_id: UUID, body: AbsenceIn, principal: Organisation, db: DbSession):
    absence = await months.record_absence(db, caller_of(principal), half_day_id, body.dossier_id, body.model_dump(exclude={"dossier_id"}))
    return absence_out(absence)


@router.get("/absence-reasons", response_model=list[ReasonOut], summary="The justified absence reasons (codes)")
async def absence_reasons():
    return absence_reasons_out()


@router.get("/sessions/{session_id}/sheets/{month}.pdf", response_class=Response, summary="The session's sheet for a month as a PDF",
            responses={200: {"content": {"application/pdf": {}}}})
async def month_sheet_pdf(session_id: UUID, month: Month, principal: Reader, db: DbSession, runtime: RuntimeDep, settings: Settings):
    content = await months.sheet_document(db, runtime.cipher, caller_of(principal), session_id, month, settings.timezone)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="emargement-{session_id}-{month}.pdf"'})


@router.get("/sessions/{session_id}/sheets/{month}", response_model=SheetOut, summary="The session's sheet for a month")
async def month_sheet(session_id: UUID, month: Month, principal: Reader, db: DbSession):
    view = await months.month_sheet(db, caller_of(principal), session_id, month)
    return sheet_out(view)


@router.post("/sessions/{session_id}/months/{month}/close", status_code=201, response_model=ClosureOut,
             summary="Validate the month (409 listing what is unsigned or not countersigned); feeds pay through sessions")
async def close_month(session_id: UUID, month: Month, response: Response, principal: Organisation, db: DbSession,
                      runtime: RuntimeDep, now: Now):
    closure, created = await months.close_month(db, runtime, caller_of(principal), session_id, month, now)
    response.status_code = 201 if created else 200
    return closure_out(closure)


@router.get("/flags", response_model=Page[FlagOut],
            summary="Fraud flags, oldest first, a page at a time (the Region: all; an organisation: its own)")
async def list_flags(principal: Reader, db: DbSession, kind: str | None = None, cursor: CursorParam = None,
                     limit: LimitParam = 100) -> Page[FlagOut]:
    return await keyset_page(db, flags.flags_query(caller_of(principal), kind), by_instant(FraudFlag.at, FraudFlag.id), cursor=cursor,
                             limit=limit, render=flag_out)
