"""Use cases: read one person's trajectory, cut to what the caller took part in, and audit the
read; keep the prescriptions read model of trajectories (`on_prescription_event`).

Prescriptions come from the read model fed by orientation's events (events/handlers.py);
training files and outcomes are this service's own. Every read is recorded (who, when,
which person id, how many items shown) in `trajectory_reads` and committed before the
answer leaves — the identity is never part of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.contracts import orientation as o
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import Dossier, TrainingSession
from sessions.db.outcomes import Outcome, PrescriptionStep, PrescriptionView, TrajectoryRead
from sessions.domain.outcomes import SITUATION_LABELS, OutcomeSituation
from sessions.domain.trajectory import Step, Viewer, in_time_order


@dataclass
class Trajectory:
    person_id: uuid.UUID
    prescriptions: list[dict] = field(default_factory=list)
    dossiers: list[dict] = field(default_factory=list)
    timeline: list[Step] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.prescriptions or self.dossiers)


async def read_trajectory(db: AsyncSession, principal: Principal, person_id: uuid.UUID, timezone: str) -> Trajectory:
    viewer = Viewer(principal.org_kind.value, principal.org_id)
    zone = ZoneInfo(timezone)
    trajectory = Trajectory(person_id)
    steps: list[Step] = []
    await _prescriptions(db, viewer, person_id, zone, trajectory, steps)
    await _dossiers(db, viewer, person_id, trajectory, steps)
    trajectory.timeline = in_time_order(steps)
    # The reads end first: the audit row is then written by a transaction of its own whose first
    # statement is the INSERT (an HTTP GET reads without SQLite's write lock: a transaction that
    # had read before writing could not take it).
    await db.commit()
    db.add(TrajectoryRead(person_id=person_id, reader=principal.describe(), read_at=utcnow(), items_shown=len(steps)))
    await db.commit()
    return trajectory


async def _prescriptions(db, viewer: Viewer, person_id, zone, trajectory: Trajectory, steps: list[Step]) -> None:
    views = (await db.execute(
        select(PrescriptionView).where(PrescriptionView.person_id == person_id).order_by(PrescriptionView.submitted_at)
    )).scalars().all()
    for view in views:
        if not viewer.sees_prescription(view.prescriber_code, view.organisation_siret):
            continue
        session = await db.get(TrainingSession, view.session_id)
        programme = session.action.programme if session else None
        own_steps = (await db.execute(
            select(PrescriptionStep).where(PrescriptionStep.prescription_id == view.prescription_id).order_by(PrescriptionStep.occurred_at)
        )).scalars().all()
        summary = {
            "prescription_id": view.prescription_id, "session_id": view.session_id, "status": view.status,
            "prescriber_kind": view.prescriber_kind, "prescriber_code": view.prescriber_code,
            "organisation_siret": view.organisation_siret, "previous_prescription_id": view.previous_prescription_id,
            "programme_code": programme.code if programme else None, "pillar": programme.pillar if programme else None,
            "steps": [{"status": s.status, "at": s.occurred_at, "reason_code": s.reason_code, "detail": s.detail} for s in own_steps],
        }
        trajectory.prescriptions.append(summary)
        for s in own_steps:
            steps.append(Step(
                on=_local_day(s.occurred_at, zone), kind="prescription", at=s.occurred_at, prescription_id=str(view.prescription_id),
                details={"status": s.status, "reason_code": s.reason_code, "session_id": str(view.session_id),
                         "programme_code": summary["programme_code"], "pillar": summary["pillar"]},
            ))


def _local_day(instant: datetime, zone: ZoneInfo):
    return instant.astimezone(zone).date()


async def _dossiers(db, viewer: Viewer, person_id, trajectory: Trajectory, steps: list[Step]) -> None:
    dossiers = (await db.execute(select(Dossier).where(Dossier.person_id == person_id).order_by(Dossier.created_at))).unique().scalars().all()
    for dossier in dossiers:
        action = dossier.session.action
        if not viewer.sees_file(dossier.prescriber_code, action.organisation_siret):
            continue
        outcomes = (await db.execute(
            select(Outcome).where(Outcome.dossier_id == dossier.id).order_by(Outcome.horizon_months, Outcome.source)
        )).scalars().all()
        trajectory.dossiers.append(_dossier_summary(dossier, outcomes))
        steps.extend(_dossier_steps(dossier, outcomes))


def _dossier_summary(dossier: Dossier, outcomes) -> dict:
    action = dossier.session.action
    return {
        "dossier_id": dossier.id, "prescription_id": dossier.prescription_id, "session_id": dossier.session_id,
        "programme_code": action.programme.code, "pillar": action.programme.pillar,
        "organisation_siret": action.organisation_siret, "status": dossier.status,
        "entry_date": dossier.entry_date, "exit_date": dossier.exit_date, "exit_kind": dossier.exit_kind,
        "dropout_reason": dossier.dropout_reason, "certification_result": dossier.certification_result,
        "skill_blocks_obtained": list(dossier.skill_blocks_obtained or []),
        "interruptions": [
            {"start_date": i.start_date, "reason": i.reason, "resumption_date": i.resumption_date} for i in dossier.interruptions
        ],
        "outcomes": [_outcome(o) for o in outcomes],
    }


def _outcome(o: Outcome) -> dict:
    return {
        "horizon_months": o.horizon_months, "situation": o.situation,
        "situation_label": SITUATION_LABELS[OutcomeSituation(o.situation)], "observed_on": o.observed_on,
        "source": o.source, "job_related_to_training": o.job_related_to_training,
    }


def _dossier_steps(dossier: Dossier, outcomes) -> list[Step]:
    action = dossier.session.action
    ref = {"dossier_id": str(dossier.id)}
    base = {"programme_code": action.programme.code, "pillar": action.programme.pillar, "organisation_siret": action.organisation_siret}
    steps = [Step(on=dossier.created_at.date(), kind="enrolled", at=dossier.created_at, details=base, **ref)]
    if dossier.entry_date:
        steps.append(Step(on=dossier.entry_date, kind="entered", details=base, **ref))
    for i in dossier.interruptions:
        steps.append(Step(on=i.start_date, kind="interrupted", details={"reason": i.reason}, **ref))
        if i.resumption_date:
            steps.append(Step(on=i.resumption_date, kind="resumed", **ref))
    if dossier.exit_date:
        steps.append(Step(on=dossier.exit_date, kind="exited", details={
            "exit_kind": dossier.exit_kind, "dropout_reason": dossier.dropout_reason,
            "certification_result": dossier.certification_result,
            "skill_blocks_obtained": list(dossier.skill_blocks_obtained or []),
        }, **ref))
    if dossier.status == "cancelled":
        steps.append(Step(on=dossier.updated_at.date(), kind="cancelled", at=dossier.updated_at, **ref))
    steps.extend(Step(on=o.observed_on, kind="outcome", details=_outcome(o), **ref) for o in outcomes)
    return steps


# ---------------------------------------------------------------- the prescriptions read model


def step_details(event: o.PrescriptionEvent) -> tuple[str | None, str | None]:
    """The reason code and a short detail of a step (never free text about the person)."""
    match event:
        case o.PrescriptionRefused():
            return event.reason_code, None
        case o.PrescriptionWithdrawn():
            return None, None
        case o.PositioningScheduled():
            return event.positioning_kind, event.positioning_date.isoformat()
        case o.PrescriptionReoriented():
            return None, f"new prescription {event.new_prescription_id}"
        case o.PrescriptionEntered():
            return None, f"training file {event.dossier_id}"
        case _:
            return None, None


async def on_prescription_event(db: AsyncSession, event: o.PrescriptionEvent) -> None:
    """A step of a prescription into the read model of trajectories, once (no commit: the consumer's).

    Each event is a step of its prescription (keyed by prescription id, so in order); the same
    fact re-published under another event id adds nothing.
    """
    view = await db.get(PrescriptionView, event.prescription_id)
    if view is None:
        view = PrescriptionView(
            prescription_id=event.prescription_id,
            person_id=event.person_id,
            session_id=event.session_id,
            prescriber_kind=event.prescriber_kind,
            prescriber_code=event.prescriber_code,
            organisation_siret=event.organisation_siret,
            status=event.status,
            previous_prescription_id=getattr(event, "previous_prescription_id", None),
            submitted_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
        db.add(view)
        await db.flush()
    elif event.occurred_at >= view.updated_at:
        view.status, view.updated_at = event.status, event.occurred_at
    if isinstance(event, o.PrescriptionSubmitted):
        view.submitted_at = min(view.submitted_at, event.occurred_at)
        view.previous_prescription_id = event.previous_prescription_id
    known = await db.execute(
        select(PrescriptionStep.id).where(
            PrescriptionStep.prescription_id == event.prescription_id,
            PrescriptionStep.status == event.status,
            PrescriptionStep.occurred_at == event.occurred_at,
        )
    )
    if known.first() is None:
        reason_code, detail = step_details(event)
        db.add(PrescriptionStep(
            prescription_id=event.prescription_id, status=event.status, occurred_at=event.occurred_at,
            reason_code=reason_code, detail=detail,
        ))
        await db.flush()
