"""The Region finds a person by last name and birth date; each search is audited and the audit is
listed for the Region (docs/security.md, "Finding a person")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.clock import utcnow
from pacte_common.http import CursorParam, LimitParam, Page
from pacte_common.pagination import by_instant, keyset_page
from pacte_common.service import DbSession, RuntimeDep

from orientation.api.presenters import person_search_answer_out, person_search_audit_out
from orientation.api.schemas import PersonSearchAnswer, PersonSearchAudit, PersonSearchIn
from orientation.app import search
from orientation.db.models import PersonSearch

router = APIRouter(tags=["persons"])
Region = Annotated[Principal, require_kind(OrgKind.REGION)]
PROBLEMS = {401: {"description": "No valid bearer token"}, 403: {"description": "The Region only"},
            422: {"description": "Invalid request (errors[].field names the field)"}}


@router.post("/persons/search", response_model=PersonSearchAnswer, responses=PROBLEMS,
             summary="Find a person by last name (a prefix, accents and case aside) and exact birth date; the Region only; audited")
async def search_persons(body: PersonSearchIn, principal: Region, db: DbSession, runtime: RuntimeDep) -> PersonSearchAnswer:
    found, truncated = await search.find_persons(db, runtime, principal, body.last_name, body.birth_date, utcnow())
    return person_search_answer_out(found, truncated, body.birth_date)


@router.get("/persons/searches", response_model=Page[PersonSearchAudit], responses=PROBLEMS,
            summary="The audit of the searches of a person, oldest first, a page at a time; the Region only")
async def list_person_searches(principal: Region, db: DbSession, runtime: RuntimeDep, cursor: CursorParam = None,
                               limit: LimitParam = None) -> Page[PersonSearchAudit]:
    return await keyset_page(db, search.searches_query(), by_instant(PersonSearch.at, PersonSearch.id), cursor=cursor,
                             limit=limit or runtime.settings.default_page_size,
                             render=lambda row: person_search_audit_out(row, runtime.cipher))
