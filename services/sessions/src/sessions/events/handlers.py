"""What the sessions service consumes, decoded and handed to its use case (app/):

- an admitted prescription opens the training file, once (app/dossiers.py: on_admitted);
- a month closed on the attendance service's sheets becomes the file's monthly statement.
(The trajectories' prescriptions read model is insights': docs/insights.md.)

The consumer (pacte_common.consumer) commits each use case with its inbox row.
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts import orientation as o
from pacte_common.contracts.attendance import AttendanceMonthClosed
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app import attendance_sheets, dossiers


async def on_admitted(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: o.PrescriptionAdmitted = envelope.data  # type: ignore[assignment]
    await dossiers.on_admitted(db, runtime, event)


def subscriptions(name: str = "prescriptions") -> list[Subscription]:
    """The admissions that open files."""
    return [Subscription(name=name, handlers={o.PrescriptionAdmitted: on_admitted})]


async def on_month_closed(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: AttendanceMonthClosed = envelope.data  # type: ignore[assignment]
    await attendance_sheets.on_month_closed(db, runtime, event)


def attendance_sheets_subscription(name: str = "attendance-sheets") -> Subscription:
    """A month validated on the attendance service's signed sheets: the file's monthly statement (source sheets)."""
    return Subscription(name=name, handlers={AttendanceMonthClosed: on_month_closed})
