"""Use cases: read one person's trajectory, cut to what the caller took part in, and audit the
read (docs/outcomes.md, "Trajectories"); purge what is past its retention period.

Everything comes from insights' read models: the prescriptions (orientation's events), the
files, their interruptions and outcomes (sessions' trainee events), the catalogue. Every read is
recorded (who, when, which person id, how many items shown) in `trajectory_reads` and committed
before the answer leaves — the identity is never part of it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from pacte_common.auth import Principal
from pacte_common.clock import business_today, months_before, utcnow
from pacte_common.contracts.outcomes import SITUATION_LABELS, OutcomeSituation
from pacte_common.schedule import run_on_schedule
from pacte_common.service import INSTANCE_ID, Runtime
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from insights.db.models import (
    Action,
    Dossier,
    Interruption,
    Outcome,
    PrescriptionStep,
    PrescriptionView,
    Programme,
    TrainingSession,
    TrajectoryRead,
    scheduled_jobs,
)
from insights.domain.trajectory import Step, in_time_order

log = logging.getLogger(__name__)


class Viewer(Protocol):
    """Which parts of a trajectory the caller sees (api/access.py states the rule)."""

    def sees_prescription(self, prescriber_code: str, organisation_siret: str) -> bool: ...

    def sees_file(self, prescriber_code: str | None, organisation_siret: str) -> bool: ...


@dataclass
class Trajectory:
    person_id: uuid.UUID
    prescriptions: list[dict] = field(default_factory=list)
    dossiers: list[dict] = field(default_factory=list)
    timeline: list[Step] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.prescriptions or self.dossiers)


async def read_trajectory(db: AsyncSession, principal: Principal, viewer: Viewer, person_id: uuid.UUID, timezone: str) -> Trajectory:
    trajectory = Trajectory(person_id)
    steps: list[Step] = []
    await _prescriptions(db, viewer, person_id, ZoneInfo(timezone), trajectory, steps)
    await _dossiers(db, viewer, person_id, trajectory, steps)
    trajectory.timeline = in_time_order(steps)
    # The reads end first: the audit row is then written by a transaction of its own whose first
    # statement is the INSERT (an HTTP GET reads without SQLite's write lock: a transaction that
    # had read before writing could not take it).
    await db.commit()
    db.add(TrajectoryRead(person_id=person_id, reader=principal.describe(), read_at=utcnow(), items_shown=len(steps)))
    await db.commit()
    return trajectory


async def _programme_of(db: AsyncSession, session_id) -> tuple[Programme | None, Action | None]:
    row = (await db.execute(
        select(Programme, Action).join(Action, Action.programme_id == Programme.id)
        .join(TrainingSession, TrainingSession.action_id == Action.id).where(TrainingSession.id == session_id)
    )).first()
    return (row[0], row[1]) if row else (None, None)


async def _prescriptions(db, viewer: Viewer, person_id, zone, trajectory: Trajectory, steps: list[Step]) -> None:
    views = (await db.execute(
        select(PrescriptionView).where(PrescriptionView.person_id == person_id).order_by(PrescriptionView.submitted_at)
    )).scalars().all()
    for view in views:
        if not viewer.sees_prescription(view.prescriber_code, view.organisation_siret):
            continue
        programme, _ = await _programme_of(db, view.session_id)
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
                on=s.occurred_at.astimezone(zone).date(), kind="prescription", at=s.occurred_at, prescription_id=str(view.prescription_id),
                details={"status": s.status, "reason_code": s.reason_code, "session_id": str(view.session_id),
                         "programme_code": summary["programme_code"], "pillar": summary["pillar"]},
            ))


async def _dossiers(db, viewer: Viewer, person_id, trajectory: Trajectory, steps: list[Step]) -> None:
    dossiers = (await db.execute(
        select(Dossier).where(Dossier.person_id == person_id).order_by(Dossier.enrolled_at, Dossier.id)
    )).scalars().all()
    for dossier in dossiers:
        programme, action = await _programme_of(db, dossier.session_id)
        if action is None or not viewer.sees_file(dossier.prescriber_code, action.organisation_siret):
            continue
        outcomes = (await db.execute(
            select(Outcome).where(Outcome.dossier_id == dossier.id).order_by(Outcome.horizon_months, Outcome.source)
        )).scalars().all()
        interruptions = (await db.execute(
            select(Interruption).where(Interruption.dossier_id == dossier.id).order_by(Interruption.start_date, Interruption.id)
        )).scalars().all()
        base = {"programme_code": programme.code, "pillar": programme.pillar, "organisation_siret": action.organisation_siret}
        trajectory.dossiers.append({
            "dossier_id": dossier.id, "prescription_id": dossier.prescription_id, "session_id": dossier.session_id,
            **base, "status": dossier.status,
            "entry_date": dossier.entry_date, "exit_date": dossier.exit_date, "exit_kind": dossier.exit_kind,
            "dropout_reason": dossier.dropout_reason, "certification_result": dossier.certification_result,
            "skill_blocks_obtained": list(dossier.skill_blocks_obtained or []),
            "interruptions": [{"start_date": i.start_date, "reason": i.reason, "resumption_date": i.resumption_date}
                              for i in interruptions],
            "outcomes": [_outcome(o) for o in outcomes],
        })
        steps.extend(_dossier_steps(dossier, base, interruptions, outcomes))


def _outcome(o: Outcome) -> dict:
    return {
        "horizon_months": o.horizon_months, "situation": o.situation,
        "situation_label": SITUATION_LABELS[OutcomeSituation(o.situation)], "observed_on": o.observed_on,
        "source": o.source, "job_related_to_training": o.job_related_to_training,
    }


def _dossier_steps(dossier: Dossier, base: dict, interruptions, outcomes) -> list[Step]:
    ref = {"dossier_id": str(dossier.id)}
    steps = []
    if dossier.enrolled_at:
        steps.append(Step(on=dossier.enrolled_at.date(), kind="enrolled", at=dossier.enrolled_at, details=base, **ref))
    if dossier.entry_date:
        steps.append(Step(on=dossier.entry_date, kind="entered", details=base, **ref))
    for i in interruptions:
        steps.append(Step(on=i.start_date, kind="interrupted", details={"reason": i.reason}, **ref))
        if i.resumption_date:
            steps.append(Step(on=i.resumption_date, kind="resumed", **ref))
    if dossier.exit_date:
        steps.append(Step(on=dossier.exit_date, kind="exited", details={
            "exit_kind": dossier.exit_kind, "dropout_reason": dossier.dropout_reason,
            "certification_result": dossier.certification_result,
            "skill_blocks_obtained": list(dossier.skill_blocks_obtained or []),
        }, **ref))
    if dossier.status == "cancelled" and dossier.cancelled_at:
        steps.append(Step(on=dossier.cancelled_at.date(), kind="cancelled", at=dossier.cancelled_at, **ref))
    steps.extend(Step(on=o.observed_on, kind="outcome", details=_outcome(o), **ref) for o in outcomes)
    return steps


# ---------------------------------------------------------------- retention


@dataclass(frozen=True)
class PurgeReport:
    cutoff: date
    outcomes_deleted: int
    prescriptions_deleted: int
    trajectory_reads_deleted: int


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def purge_expired(db: AsyncSession, runtime: Runtime, today: date) -> PurgeReport:
    """Deletes what is past its retention period (docs/outcomes.md, "Personal data and
    retention"): outcomes observed before the cutoff (sessions purges its own the same way),
    prescriptions untouched since then, and the audit of reads older than its own period."""
    settings = runtime.settings
    cutoff = months_before(today, settings.outcome_retention_months)
    stale = select(PrescriptionView.prescription_id).where(PrescriptionView.updated_at < _midnight(cutoff))
    outcomes = await db.execute(delete(Outcome).where(Outcome.observed_on < cutoff))
    await db.execute(delete(PrescriptionStep).where(PrescriptionStep.prescription_id.in_(stale)))
    prescriptions = await db.execute(delete(PrescriptionView).where(PrescriptionView.updated_at < _midnight(cutoff)))
    audit_cutoff = _midnight(months_before(today, settings.trajectory_audit_retention_months))
    reads = await db.execute(delete(TrajectoryRead).where(TrajectoryRead.read_at < audit_cutoff))
    await db.commit()
    return PurgeReport(cutoff, outcomes.rowcount or 0, prescriptions.rowcount or 0, reads.rowcount or 0)


async def purge_periodically(runtime: Runtime, stop: asyncio.Event) -> None:
    """Background job: the retention purge every `retention_purge_interval_hours`, run by one
    instance per interval (the first start runs it at once; a restart does not run it again early)."""

    async def purge() -> str:
        async with runtime.db_factory() as db:
            report = await purge_expired(db, runtime, business_today(runtime.settings.business_timezone))
        return (f"{report.outcomes_deleted} outcomes, {report.prescriptions_deleted} prescriptions, "
                f"{report.trajectory_reads_deleted} trajectory reads deleted (cutoff {report.cutoff})")

    await run_on_schedule(runtime.db_factory, stop, scheduled_jobs, "retention-purge",
                          runtime.settings.retention_purge_interval_hours * 3600, purge, instance=INSTANCE_ID)
