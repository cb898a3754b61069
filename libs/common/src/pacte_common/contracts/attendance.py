"""Events published by the attendance service (digital attendance sheets, docs/attendance.md).

`attendance-sheet.month-closed.v1`: the organisation validated a session's month on the
signed sheets; one event per training file, keyed by dossier id, with the month's hours as
the sheets give them. Sessions records it as the file's monthly statement (source `sheets`)
through the same use case as the manual route, and publishes it on the existing
`attendance.recorded`/`attendance.corrected` contract, which remuneration pays from. The
same hours reach any other flow that needs the signed hours (France Travail).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from pacte_common.events import IntegrationEvent, Topics, register


@register
class AttendanceMonthClosed(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.attendance-sheet.month-closed.v1"
    topic: ClassVar[str] = Topics.ATTENDANCE_SHEETS

    dossier_id: UUID
    person_id: UUID
    session_id: UUID
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    closure_id: UUID = Field(description="The month's validation on the sheets (one per session and month, a reopening makes a new one)")
    planned_hours: Decimal = Field(description="Hours of the half-days planned for this trainee in the month")
    attended_hours: Decimal = Field(description="Signed hours, less late arrivals and early departures")
    justified_absence_hours: Decimal
    unjustified_absence_hours: Decimal
    signed_half_days: int = Field(ge=0)
    planned_half_days: int = Field(ge=0)
    closed_at: AwareDatetime
    closed_by: str = Field(description="Who validated the month (organisation kind:id)")
