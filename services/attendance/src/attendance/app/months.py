"""Absences and lateness, the month's sheet, the month's close (docs/attendance.md §3–4).

The close publishes, per trainee, `attendance-sheet.month-closed.v1` through the outbox in the
same transaction as the closure: sessions records it as the month's statement (source
`sheets`), which reaches remuneration on the existing `attendance.recorded` contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pacte_common.contracts.attendance import AttendanceMonthClosed
from pacte_common.errors import Conflict, Invalid
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.app.context import Caller
from attendance.app.schedule import ensure_month_open, half_day_for, half_days_of, session_for
from attendance.app.signing import trainee_in
from attendance.db.models import (
    Absence,
    Countersignature,
    HalfDay,
    MonthClosure,
    Signature,
    Trainee,
    TrainingSession,
)
from attendance.domain import sheet


async def record_absence(db: AsyncSession, caller: Caller, half_day_id: uuid.UUID, dossier_id: uuid.UUID, body: dict) -> Absence:
    half_day = await half_day_for(db, caller, half_day_id)
    await ensure_month_open(db, half_day.session_id, half_day.day)
    await trainee_in(db, half_day, dossier_id)
    minutes = (half_day.ends_at.hour * 60 + half_day.ends_at.minute) - (half_day.starts_at.hour * 60 + half_day.starts_at.minute)
    try:
        sheet.check_absence(body["absent"], body["justified"], body.get("reason_code"), body.get("proof_reference"),
                            body["late_minutes"], body["early_departure_minutes"], minutes)
    except sheet.SheetError as exc:
        raise Invalid(exc.message, field=exc.field) from None
    absence = Absence(id=uuid.uuid4(), half_day_id=half_day.id, dossier_id=dossier_id, absent=body["absent"],
                      justified=body["justified"], reason_code=body.get("reason_code"), proof_reference=body.get("proof_reference"),
                      late_minutes=body["late_minutes"], early_departure_minutes=body["early_departure_minutes"],
                      recorded_by=caller.actor)
    db.add(absence)
    await db.flush()
    await db.commit()
    return absence


@dataclass
class Row:
    trainee: Trainee
    cells: dict[uuid.UUID, sheet.Cell] = field(default_factory=dict)
    signatures: dict[uuid.UUID, Signature] = field(default_factory=dict)


@dataclass
class MonthSheet:
    session: TrainingSession
    month: str
    half_days: list[HalfDay]
    rows: list[Row]
    countersigned: dict[uuid.UUID, Countersignature]
    closure: MonthClosure | None


def _latest(rows, key):
    found = {}
    for row in rows:
        found[key(row)] = row  # ordered oldest first: the last one wins
    return found


async def month_sheet(db: AsyncSession, caller: Caller, session_id: uuid.UUID, month: str) -> MonthSheet:
    session = await session_for(db, caller, session_id)
    first, last = sheet.month_bounds(month)
    half_days = [h for h in await half_days_of(db, session.id, first, last) if not h.cancelled]
    ids = [h.id for h in half_days]
    trainees = (await db.scalars(select(Trainee).where(Trainee.session_id == session.id).order_by(Trainee.dossier_id))).all()
    signatures = _latest((await db.scalars(select(Signature).where(Signature.half_day_id.in_(ids)).order_by(Signature.seq))).all(),
                         lambda s: (s.half_day_id, s.dossier_id))
    absences = _latest((await db.scalars(select(Absence).where(Absence.half_day_id.in_(ids)).order_by(Absence.recorded_at))).all(),
                       lambda a: (a.half_day_id, a.dossier_id))
    countersigned = {c.half_day_id: c for c in (await db.scalars(select(Countersignature).where(Countersignature.half_day_id.in_(ids)))).all()}
    rows = []
    for trainee in trainees:
        row = Row(trainee)
        for half_day in half_days:
            if not sheet.in_training(half_day.day, trainee.entry_date, trainee.exit_date):
                continue
            signature, absence = signatures.get((half_day.id, trainee.dossier_id)), absences.get((half_day.id, trainee.dossier_id))
            row.cells[half_day.id] = sheet.Cell(
                hours=half_day.hours, signed=bool(signature and signature.present), absent=bool(absence and absence.absent),
                justified=bool(absence and absence.justified), reason_code=absence.reason_code if absence else None,
                late_minutes=absence.late_minutes if absence else 0, early_minutes=absence.early_departure_minutes if absence else 0)
            if signature is not None:
                row.signatures[half_day.id] = signature
        if row.cells:
            rows.append(row)
    closure = await db.scalar(select(MonthClosure).where(MonthClosure.session_id == session.id, MonthClosure.month == month))
    return MonthSheet(session, month, half_days, rows, countersigned, closure)


def missing(month: MonthSheet) -> tuple[list[dict], list[dict]]:
    """The trainees' half-days neither signed nor declared absent, and the half-days not countersigned."""
    by_id = {h.id: h for h in month.half_days}
    unsigned = [{"half_day_id": str(hid), "day": str(by_id[hid].day), "period": by_id[hid].period, "dossier_id": str(row.trainee.dossier_id)}
                for row in month.rows for hid, cell in row.cells.items() if not cell.settled]
    uncountersigned = [{"half_day_id": str(h.id), "day": str(h.day), "period": h.period}
                       for h in month.half_days if h.id not in month.countersigned and any(h.id in r.cells for r in month.rows)]
    return unsigned, uncountersigned


def statement_of(row: Row) -> dict:
    built = sheet.month_statement(list(row.cells.values()))
    return {"dossier_id": str(row.trainee.dossier_id), "person_id": str(row.trainee.person_id),
            "planned_hours": f"{built.planned_hours:.2f}", "attended_hours": f"{built.attended_hours:.2f}",
            "justified_absence_hours": f"{built.justified_absence_hours:.2f}",
            "unjustified_absence_hours": f"{built.unjustified_absence_hours:.2f}",
            "planned_half_days": built.planned_half_days, "signed_half_days": built.signed_half_days,
            "justified_reasons": built.reasons}


async def close_month(db: AsyncSession, runtime: Runtime, caller: Caller, session_id: uuid.UUID, month: str,
                      now: datetime) -> tuple[MonthClosure, bool]:
    """Validates the month when every trainee's half-day is signed or declared absent and every
    half-day is countersigned (else 409 listing them); publishes each trainee's month. Again: the same closure."""
    month_view = await month_sheet(db, caller, session_id, month)
    if month_view.closure is not None:
        return month_view.closure, False
    if not month_view.rows:
        raise Conflict(f"no trainee has a planned half-day in {month}", slug="empty-month")
    if sheet.month_bounds(month)[1] >= now.date():
        raise Conflict(f"the month {month} is not over yet", slug="month-not-over")
    unsigned, uncountersigned = missing(month_view)
    if unsigned or uncountersigned:
        raise Conflict(f"{len(unsigned)} half-day(s) neither signed nor declared absent, {len(uncountersigned)} not countersigned",
                       slug="month-incomplete", unsigned=unsigned, uncountersigned=uncountersigned)
    closure = MonthClosure(id=uuid.uuid4(), session_id=month_view.session.id, month=month, closed_at=now,
                           closed_by=caller.actor, statements=[statement_of(row) for row in month_view.rows])
    db.add(closure)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        return await db.scalar(select(MonthClosure).where(MonthClosure.session_id == session_id, MonthClosure.month == month)), False
    for item in closure.statements:
        await runtime.outbox.publish(db, AttendanceMonthClosed(
            dossier_id=item["dossier_id"], person_id=item["person_id"], session_id=closure.session_id, month=month,
            closure_id=closure.id, planned_hours=item["planned_hours"], attended_hours=item["attended_hours"],
            justified_absence_hours=item["justified_absence_hours"], unjustified_absence_hours=item["unjustified_absence_hours"],
            signed_half_days=item["signed_half_days"], planned_half_days=item["planned_half_days"],
            closed_at=now, closed_by=closure.closed_by), key=item["dossier_id"])
    await db.commit()
    return closure, True


async def sheet_document(db: AsyncSession, cipher, caller: Caller, session_id: uuid.UUID, month: str, timezone: str) -> bytes:
    """The month's sheet as a PDF, with every signature and the trainer's countersignatures."""
    from attendance.app.trainees import name_of
    from attendance.domain import sheet_pdf

    view = await month_sheet(db, caller, session_id, month)
    columns = [sheet_pdf.Column(h.id, h.day, h.period, f"{h.starts_at:%H:%M}", f"{h.ends_at:%H:%M}", h.hours,
                                view.countersigned[h.id].trainer if h.id in view.countersigned else None,
                                view.countersigned[h.id].signed_at if h.id in view.countersigned else None) for h in view.half_days]
    lines = []
    for row in view.rows:
        line = sheet_pdf.Line(name_of(cipher, row.trainee), totals=statement_of(row))
        for half_day_id, cell in row.cells.items():
            signature = row.signatures.get(half_day_id)
            line.cells[half_day_id] = sheet_pdf.cell_text(cell.state, signature.method if signature else None,
                                                          signature.signed_at if signature else None, timezone,
                                                          cell.late_minutes, cell.early_minutes, cell.reason_code)
        lines.append(line)
    closed = (f"Mois validé le {view.closure.closed_at:%d/%m/%Y %H:%M} UTC par {view.closure.closed_by}" if view.closure else None)
    return sheet_pdf.render(sheet_pdf.SheetDocument(view.session.action_title or "Session", view.session.organisation_siret,
                                                    str(view.session.id), month, timezone, columns, lines, closed))
