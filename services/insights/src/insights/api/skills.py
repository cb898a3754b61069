"""`GET /people/{person_id}/skills`: a person's skills passport (docs/satisfaction.md, "Skills passport")."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pacte_common.auth import CurrentPrincipal, OrgKind
from pacte_common.errors import Forbidden, NotFound
from pacte_common.service import DbSession
from pydantic import BaseModel

from insights.db.skills import files_of_person
from insights.domain.skills import blocks_obtained, current_prescriber, passport

router = APIRouter(tags=["skills"])


class CertificationOut(BaseModel):
    dossier_id: UUID
    programme_code: str
    action_title: str
    rncp_code: str | None
    certification_result: str | None
    skill_blocks_obtained: list[str]
    skill_blocks_offered: list[str]
    exit_date: date | None


class SkillsOut(BaseModel):
    person_id: UUID
    current_prescriber: str | None
    skill_blocks_obtained: list[str]
    certifications: list[CertificationOut]


@router.get("/people/{person_id}/skills", response_model=SkillsOut,
            summary="A person's certification results and skill blocks obtained (the Region, the person's current prescriber)")
async def skills_passport(person_id: UUID, principal: CurrentPrincipal, db: DbSession):
    if principal.org_kind not in (OrgKind.REGION, OrgKind.PRESCRIBER):
        raise Forbidden("A skills passport is read by the Region and by the person's current prescriber")
    files = await files_of_person(db, person_id)
    prescriber = current_prescriber(files)
    if not files or (principal.org_kind is OrgKind.PRESCRIBER and prescriber != principal.org_id):
        raise NotFound("No such person")  # another prescriber's person: its existence does not leak
    counted, blocks = passport(files)
    return SkillsOut(
        person_id=person_id, current_prescriber=prescriber, skill_blocks_obtained=blocks,
        certifications=[
            CertificationOut(dossier_id=f.dossier_id, programme_code=f.programme_code, action_title=f.action_title, rncp_code=f.rncp_code,
                             certification_result=f.certification_result, skill_blocks_obtained=blocks_obtained(f),
                             skill_blocks_offered=f.skill_blocks_offered, exit_date=f.exit_date)
            for f in counted
        ],
    )
