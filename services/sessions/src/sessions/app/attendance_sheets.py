"""A month validated on the attendance service's signed sheets becomes the file's monthly
statement, through the same use case as the manual route (source `sheets`)."""

from __future__ import annotations

from pacte_common.clock import business_today
from pacte_common.contracts.attendance import AttendanceMonthClosed
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app.dossiers import record_attendance
from sessions.db.queries import dossier_by_id
from sessions.domain.training import MonthlyAttendance


async def on_month_closed(db: AsyncSession, runtime: Runtime, event: AttendanceMonthClosed) -> None:
    dossier = await dossier_by_id(db, event.dossier_id, for_update=True)
    if dossier is None:
        raise LookupError(f"unknown training file {event.dossier_id}")  # retried, then dead-lettered
    statement = MonthlyAttendance(
        planned_hours=event.planned_hours, attended_hours=event.attended_hours,
        justified_absence_hours=event.justified_absence_hours, unjustified_absence_hours=event.unjustified_absence_hours,
    )
    await record_attendance(db, runtime, dossier, event.month, statement, actor=f"attendance-sheets:{event.closed_by}",
                            today=business_today(runtime.settings.business_timezone), source="sheets", commit=False)
