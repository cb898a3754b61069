"""The Region finds a person by last name and birth date; each search is audited and the audit is
listed for the Region (docs/security.md, "Finding a person")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.clock import utcnow
from pacte_common.contracts.people import MaskedIdentity
from pacte_common.crypto import FieldCipher
from pacte_common.http import CursorParam, LimitParam, Page
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from pydantic import BaseModel, ConfigDict, Field

from orientation.app import search
from orientation.db.models import PersonSearch
from orientation.domain.people import mask_birth_date, mask_name

router = APIRouter(tags=["persons"])
Region = Annotated[Principal, require_kind(OrgKind.REGION)]
PROBLEMS = {401: {"description": "No valid bearer token"}, 403: {"description": "The Region only"},
            422: {"description": "Invalid request (errors[].field names the field)"}}


class PersonSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last_name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$", description="Birth or usual name, or its beginning; accents and case aside")
    birth_date: date = Field(description="Exact, YYYY-MM-DD")


class FoundPrescriptionOut(BaseModel):
    id: UUID
    status: str
    session_id: UUID
    organisation_siret: str
    created_at: datetime
    href: str = Field(description="The prescription in this service (GET)")


class FoundPersonOut(BaseModel):
    person_id: UUID
    identity: MaskedIdentity
    birth_date: date
    prescriptions: list[FoundPrescriptionOut]


class PersonSearchAnswer(BaseModel):
    items: list[FoundPersonOut]
    truncated: bool = Field(description="More persons matched than shown: type more of the name")


class PersonSearchAudit(BaseModel):
    id: UUID
    at: datetime
    actor: str
    last_name_masked: str = Field(description="The name as typed, masked: its first letter, then a star per other character")
    birth_date_masked: str = Field(description="The birth date as typed, masked: its year only (YYYY-**-**)")
    found: int

    @classmethod
    def of(cls, row: PersonSearch, cipher: FieldCipher) -> PersonSearchAudit:
        criteria = search.open_criteria(cipher, row.criteria_sealed)
        return cls(id=row.id, at=row.at, actor=row.actor, last_name_masked=mask_name(criteria.last_name),
                   birth_date_masked=mask_birth_date(criteria.birth_date), found=row.found)


@router.post("/persons/search", response_model=PersonSearchAnswer, responses=PROBLEMS,
             summary="Find a person by last name (a prefix, accents and case aside) and exact birth date; the Region only; audited")
async def search_persons(body: PersonSearchIn, principal: Region, db: DbSession, runtime: RuntimeDep) -> PersonSearchAnswer:
    found, truncated = await search.find_persons(db, runtime, principal, body.last_name, body.birth_date, utcnow())
    return PersonSearchAnswer(truncated=truncated, items=[FoundPersonOut(
        person_id=f.person.person_id, identity=MaskedIdentity.of(f.identity), birth_date=body.birth_date,
        prescriptions=[FoundPrescriptionOut(id=p.id, status=p.status, session_id=p.session_id, organisation_siret=p.organisation_siret,
                                            created_at=p.created_at, href=f"/prescriptions/{p.id}") for p in f.prescriptions],
    ) for f in found])


@router.get("/persons/searches", response_model=Page[PersonSearchAudit], responses=PROBLEMS,
            summary="The audit of the searches of a person, oldest first, a page at a time; the Region only")
async def list_person_searches(principal: Region, db: DbSession, runtime: RuntimeDep, cursor: CursorParam = None,
                               limit: LimitParam = None) -> Page[PersonSearchAudit]:
    return await keyset_page(db, search.searches_query(), by_instant(PersonSearch.at, PersonSearch.id), cursor=cursor,
                             limit=limit or runtime.settings.default_page_size,
                             render=lambda row: PersonSearchAudit.of(row, runtime.cipher))
