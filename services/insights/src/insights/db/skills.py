"""What the skills passport reads: a person's training files with their action and programme,
as insights' read models hold them (built from the trainee events: docs/insights.md)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from insights.db.models import Action, Dossier, Programme, TrainingSession
from insights.domain.skills import FileSkills


async def files_of_person(db: AsyncSession, person_id: uuid.UUID) -> list[FileSkills]:
    query = (
        select(Dossier.id, Dossier.enrolled_at, Dossier.status, Dossier.prescriber_code, Programme.id, Action.title,
               Action.rncp_code, Action.certifying, Action.skill_blocks, Dossier.certification_result,
               Dossier.skill_blocks_obtained, Dossier.exit_date)
        .join(TrainingSession, Dossier.session_id == TrainingSession.id)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
        .where(Dossier.person_id == person_id)
    )
    return [
        FileSkills(dossier_id=r[0], enrolled_at=r[1], status=r[2], prescriber_code=r[3], programme_code=r[4], action_title=r[5],
                   rncp_code=r[6], certifying=r[7], skill_blocks_offered=list(r[8] or []), certification_result=r[9],
                   skill_blocks_obtained=list(r[10] or []), exit_date=r[11])
        for r in (await db.execute(query)).all()
    ]
