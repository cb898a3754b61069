"""What the sessions service consumes, decoded and handed to its use case (app/):

- an admitted prescription opens the training file, once (app/dossiers.py: on_admitted);
- every prescription event feeds the prescriptions read model of trajectories
  (app/trajectory.py: on_prescription_event), in a consumer group of its own (`trajectory`):
  a new group starts from the earliest offsets, so the read model fills itself with the
  prescriptions still on the topic when it is first deployed, and a failure there never holds
  the opening of files back.

The consumer (pacte_common.consumer) commits each use case with its inbox row.
"""

from __future__ import annotations

from pacte_common.consumer import Subscription
from pacte_common.contracts import orientation as o
from pacte_common.contracts.attendance import AttendanceMonthClosed
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app import attendance_sheets, dossiers, trajectory

EVENTS: tuple[type[o.PrescriptionEvent], ...] = (
    o.PrescriptionSubmitted,
    o.PositioningScheduled,
    o.PrescriptionAdmitted,
    o.PrescriptionRefused,
    o.PrescriptionWaitlisted,
    o.PrescriptionWithdrawn,
    o.PrescriptionExpired,
    o.PrescriptionReoriented,
    o.PrescriptionEntered,
    o.AdmissionCancelled,
)


async def on_admitted(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: o.PrescriptionAdmitted = envelope.data  # type: ignore[assignment]
    await dossiers.on_admitted(db, runtime, event)


async def on_prescription_event(db: AsyncSession, runtime: Runtime | None, envelope: Envelope) -> None:
    event: o.PrescriptionEvent = envelope.data  # type: ignore[assignment]
    await trajectory.on_prescription_event(db, event)


def trajectory_subscription(name: str = "trajectory") -> Subscription:
    return Subscription(name=name, handlers={cls: on_prescription_event for cls in EVENTS})


def subscriptions(name: str = "prescriptions", trajectory_name: str = "trajectory") -> list[Subscription]:
    """The admissions that open files, and (a group of its own) the trajectories' prescriptions read model."""
    return [Subscription(name=name, handlers={o.PrescriptionAdmitted: on_admitted}), trajectory_subscription(trajectory_name)]


async def on_month_closed(db: AsyncSession, runtime: Runtime, envelope: Envelope) -> None:
    event: AttendanceMonthClosed = envelope.data  # type: ignore[assignment]
    await attendance_sheets.on_month_closed(db, runtime, event)


def attendance_sheets_subscription(name: str = "attendance-sheets") -> Subscription:
    """A month validated on the attendance service's signed sheets: the file's monthly statement (source sheets)."""
    return Subscription(name=name, handlers={AttendanceMonthClosed: on_month_closed})
