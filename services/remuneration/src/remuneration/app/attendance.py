"""Use case on the monthly attendance statements sessions send (every version is kept)."""

from __future__ import annotations

import logging

from pacte_common.contracts.sessions import AttendanceRecorded, AttendanceVoided
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.files import attendance_known
from remuneration.db.models import AttendanceStatementRow
from remuneration.domain.formula import Attendance

log = logging.getLogger(__name__)


async def on_attendance(db: AsyncSession, event: AttendanceRecorded) -> None:
    """Keeps every version; a version already known is a redelivery and changes nothing (no commit:
    the consumer commits)."""
    hours = (event.planned_hours, event.attended_hours, event.justified_absence_hours,
             event.unjustified_absence_hours, event.in_company_hours)
    if any(h < 0 for h in hours):
        raise ValueError("attendance hours cannot be negative")  # dead-lettered after the retries
    Attendance(event.planned_hours, event.unjustified_absence_hours, event.version)  # same checks as the formula
    if await attendance_known(db, event.dossier_id, event.month, event.version):
        log.info("attendance %s v%s of a file already known; ignored", event.month, event.version)
        return
    db.add(AttendanceStatementRow(
        dossier_id=event.dossier_id, month=event.month, version=event.version, planned_hours=event.planned_hours,
        attended_hours=event.attended_hours, justified_absence_hours=event.justified_absence_hours,
        unjustified_absence_hours=event.unjustified_absence_hours, in_company_hours=event.in_company_hours,
        recorded_at=event.recorded_at,
    ))


async def on_voided(db: AsyncSession, event: AttendanceVoided) -> None:
    """Marks the voided version (kept for the history). Pay needs nothing more: a month outside the
    training has no day in training, so the next run recovers what was paid for it."""
    await db.execute(
        update(AttendanceStatementRow)
        .where(AttendanceStatementRow.dossier_id == event.dossier_id, AttendanceStatementRow.month == event.month,
               AttendanceStatementRow.version == event.version, AttendanceStatementRow.voided_at.is_(None))
        .values(voided_at=event.voided_at, voided_reason=event.reason)
    )
    