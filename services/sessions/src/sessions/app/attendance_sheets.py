"""A month validated on the attendance service's signed sheets becomes the file's monthly
statement, through the same use case as the manual route (source `sheets`)."""

from __future__ import annotations

from pacte_common.clock import business_today
from pacte_common.consumer import PermanentError
from pacte_common.contracts.attendance import AttendanceMonthClosed
from pacte_common.errors import Invalid, InvalidTransition
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app.dossiers import record_attendance
from sessions.db.queries import dossier_by_id
from sessions.domain.training import MonthlyAttendance


async def on_month_closed(db: AsyncSession, runtime: Runtime, event: AttendanceMonthClosed) -> None:
    """Sessions owns the file, so what refuses the month can never succeed on a retry (an unknown
    file, a cancelled one, a month outside the session or the file's entry to exit): a
    `PermanentError`, straight to the dead letters with its reason (an operator replays it once
    the file is corrected, docs/runbook.md)."""
    dossier = await dossier_by_id(db, event.dossier_id, for_update=True)
    if dossier is None:
        raise PermanentError(f"unknown training file {event.dossier_id}")
    statement = MonthlyAttendance(
        planned_hours=event.planned_hours, attended_hours=event.attended_hours,
        justified_absence_hours=event.justified_absence_hours, unjustified_absence_hours=event.unjustified_absence_hours,
    )
    try:
        await record_attendance(db, runtime, dossier, event.month, statement, actor=f"attendance-sheets:{event.closed_by}",
                                today=business_today(runtime.settings.business_timezone), source="sheets", commit=False)
    except (Invalid, InvalidTransition) as refused:
        raise PermanentError(f"month {event.month} of training file {event.dossier_id} refused: {refused}") from refused
