"""`GET /people/{person_id}/trajectory`: one person's path from prescription to job (docs/outcomes.md,
"Trajectories"), and the retention purge of what it reads.

The Region sees everything; a prescriber or a training organisation only what it took part
in; someone who took part in nothing gets 404, as for an unknown person. Every read is
audited (who, when, which person id) by the use case; the Region reads that audit.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import select

from insights.api.access import Today, viewer_of
from insights.api.presenters import purge_out, trajectory_out, trajectory_read_out
from insights.api.schemas import PurgeOut, ReadOut, TrajectoryOut
from insights.app.trajectory import purge_expired, read_trajectory
from insights.db.models import TrajectoryRead

router = APIRouter(tags=["trajectories"])
Reader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PRESCRIBER, OrgKind.TRAINING_ORG)]
Region = Annotated[Principal, require_kind(OrgKind.REGION)]


@router.get("/people/{person_id}/trajectory", response_model=TrajectoryOut,
            summary="A person's trajectory: prescriptions, training files, outcomes in time order (audited)",
            responses={503: {"description": "The read's audit record could not be written in time: nothing shown; retry"}})
async def get_trajectory(person_id: UUID, principal: Reader, db: DbSession, runtime: RuntimeDep):
    found = await read_trajectory(db, principal, viewer_of(principal), person_id, runtime.settings.business_timezone)
    if found.empty:
        raise NotFound("No trajectory visible to you for this person")
    return trajectory_out(found)


@router.get("/people/{person_id}/trajectory/reads", response_model=list[ReadOut],
            summary="Audit: who read this person's trajectory, when (Region)")
async def trajectory_reads(person_id: UUID, principal: Region, db: DbSession,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100):
    query = select(TrajectoryRead).where(TrajectoryRead.person_id == person_id).order_by(TrajectoryRead.id.desc()).limit(limit)
    return [trajectory_read_out(r) for r in (await db.execute(query)).scalars()]


@router.post("/retention/purge", response_model=PurgeOut,
             summary="Delete the outcomes, prescriptions and trajectory reads past their retention period (Region)")
async def purge(principal: Region, db: DbSession, runtime: RuntimeDep, today: Today):
    return purge_out(await purge_expired(db, runtime, today))
