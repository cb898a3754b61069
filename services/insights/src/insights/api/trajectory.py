"""`GET /people/{person_id}/trajectory`: one person's path from prescription to job (docs/outcomes.md,
"Trajectories"), and the retention purge of what it reads.

The Region sees everything; a prescriber or a training organisation only what it took part
in; someone who took part in nothing gets 404, as for an unknown person. Every read is
audited (who, when, which person id) by the use case; the Region reads that audit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.service import DbSession, RuntimeDep
from pydantic import BaseModel, Field
from sqlalchemy import select

from insights.api.access import Today
from insights.app.trajectory import purge_expired, read_trajectory
from insights.db.models import TrajectoryRead

router = APIRouter(tags=["trajectories"])
Reader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PRESCRIBER, OrgKind.TRAINING_ORG)]
Region = Annotated[Principal, require_kind(OrgKind.REGION)]


class StepOut(BaseModel):
    on: date
    kind: str = Field(description="prescription, enrolled, entered, interrupted, resumed, exited, cancelled, outcome")
    at: datetime | None = None
    prescription_id: UUID | None = None
    dossier_id: UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class TrajectoryOut(BaseModel):
    person_id: UUID = Field(description="The pseudonymous person id: the single key of the trajectory")
    prescriptions: list[dict[str, Any]] = Field(description="Each prescription with its steps (answers, reasons)")
    dossiers: list[dict[str, Any]] = Field(description="Each training file: entry, interruptions, exit, certification, skill blocks, outcomes")
    timeline: list[StepOut] = Field(description="Everything above in time order")


class ReadOut(BaseModel):
    person_id: UUID
    reader: str
    read_at: datetime
    items_shown: int


@router.get("/people/{person_id}/trajectory", response_model=TrajectoryOut,
            summary="A person's trajectory: prescriptions, training files, outcomes in time order (audited)",
            responses={503: {"description": "The read's audit record could not be written in time: nothing shown; retry"}})
async def get_trajectory(person_id: UUID, principal: Reader, db: DbSession, runtime: RuntimeDep):
    found = await read_trajectory(db, principal, person_id, runtime.settings.business_timezone)
    if found.empty:
        raise NotFound("No trajectory visible to you for this person")
    return TrajectoryOut(
        person_id=found.person_id, prescriptions=found.prescriptions, dossiers=found.dossiers,
        timeline=[StepOut(**vars(step)) for step in found.timeline],
    )


@router.get("/people/{person_id}/trajectory/reads", response_model=list[ReadOut],
            summary="Audit: who read this person's trajectory, when (Region)")
async def trajectory_reads(person_id: UUID, principal: Region, db: DbSession,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100):
    query = select(TrajectoryRead).where(TrajectoryRead.person_id == person_id).order_by(TrajectoryRead.id.desc()).limit(limit)
    return [ReadOut.model_validate(r, from_attributes=True) for r in (await db.execute(query)).scalars()]


class PurgeOut(BaseModel):
    cutoff: date = Field(description="Outcomes observed before this day, prescriptions untouched since, were deleted")
    outcomes_deleted: int
    prescriptions_deleted: int
    trajectory_reads_deleted: int


@router.post("/retention/purge", response_model=PurgeOut,
             summary="Delete the outcomes, prescriptions and trajectory reads past their retention period (Region)")
async def purge(principal: Region, db: DbSession, runtime: RuntimeDep, today: Today):
    return PurgeOut(**vars(await purge_expired(db, runtime, today)))
