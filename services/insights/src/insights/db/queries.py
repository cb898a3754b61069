"""Small reads of the read models (no commit, no publish)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from insights.db.models import AttendanceStatement


async def statement_row(db: AsyncSession, dossier_id: UUID, month: str, version: int | None = None) -> AttendanceStatement | None:
    """The month's statement of that version, or (no version) its latest."""
    query = select(AttendanceStatement).where(AttendanceStatement.dossier_id == dossier_id, AttendanceStatement.month == month)
    if version is not None:
        query = query.where(AttendanceStatement.version == version)
    return (await db.execute(query.order_by(AttendanceStatement.version.desc()).limit(1))).scalar_one_or_none()
