"""`GET /people/{person_id}/skills`: a person's skills passport (docs/satisfaction.md, "Skills passport")."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pacte_common.auth import CurrentPrincipal
from pacte_common.errors import NotFound
from pacte_common.service import DbSession

from insights.api.access import ensure_skills_readable, may_see_skills
from insights.api.presenters import skills_out
from insights.api.schemas import SkillsOut
from insights.db.skills import files_of_person
from insights.domain.skills import current_prescriber

router = APIRouter(tags=["skills"])


@router.get("/people/{person_id}/skills", response_model=SkillsOut,
            summary="A person's certification results and skill blocks obtained (the Region, the person's current prescriber)")
async def skills_passport(person_id: UUID, principal: CurrentPrincipal, db: DbSession):
    ensure_skills_readable(principal)
    files = await files_of_person(db, person_id)
    prescriber = current_prescriber(files)
    if not files or not may_see_skills(principal, prescriber):
        raise NotFound("No such person")  # another prescriber's person: its existence does not leak
    return skills_out(person_id, prescriber, files)
