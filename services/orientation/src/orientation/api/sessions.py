"""GET /sessions: the sessions open for prescription, from orientation's own read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pacte_common.auth import CurrentPrincipal
from pacte_common.errors import NotFound
from pacte_common.http import CODE, DEPARTEMENT, CursorParam, IsoDate, Page
from pacte_common.pagination import by_date, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import select

from orientation.api.presenters import session_out
from orientation.api.schemas import SessionOut
from orientation.db.models import CatalogueSession
from orientation.settings import OrientationSettings

router = APIRouter(tags=["sessions"])


@router.get("/sessions", response_model=Page[SessionOut], summary="Sessions open for prescription")
async def list_sessions(
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    departement: Annotated[str | None, Query(pattern=DEPARTEMENT, description="44, 49, 53, 72, 85")] = None,
    programme: Annotated[str | None, Query(pattern=CODE, description="Programme code (dispositif)")] = None,
    pillar: Annotated[str | None, Query(pattern="^[a-z_]{1,32}$", description="prepa, visa, acces, other")] = None,
    certification: Annotated[str | None, Query(pattern="^[A-Za-z0-9]{1,32}$", description="RNCP code")] = None,
    formacode: Annotated[str | None, Query(pattern="^[0-9]{5}$")] = None,
    organisation_siret: Annotated[str | None, Query(pattern="^[0-9]{14}$")] = None,
    start_from: Annotated[IsoDate | None, Query(description="Sessions starting on or after")] = None,
    start_to: Annotated[IsoDate | None, Query(description="Sessions starting on or before")] = None,
    open_places: Annotated[bool, Query(description="Only sessions with places left")] = False,
    include_closed: Annotated[bool, Query(description="Also closed, cancelled sessions")] = False,
    cursor: CursorParam = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Page[SessionOut]:
    settings: OrientationSettings = runtime.settings
    query = select(CatalogueSession)
    if not include_closed:
        query = query.where(
            CatalogueSession.cancelled.is_(False),
            CatalogueSession.recruitment_state.in_(settings.prescribable_recruitment_states),
        )
    filters = {
        CatalogueSession.departement: departement,
        CatalogueSession.programme_code: programme,
        CatalogueSession.pillar: pillar,
        CatalogueSession.rncp_code: certification,
        CatalogueSession.formacode: formacode,
        CatalogueSession.organisation_siret: organisation_siret,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if start_from:
        query = query.where(CatalogueSession.start_date >= start_from)
    if start_to:
        query = query.where(CatalogueSession.start_date <= start_to)
    if open_places:
        query = query.where(CatalogueSession.places_taken < CatalogueSession.places)
    return await keyset_page(
        db, query, by_date(CatalogueSession.start_date, CatalogueSession.session_id), cursor=cursor,
        limit=limit or settings.default_page_size, render=lambda row: session_out(row, settings),
    )


@router.get("/sessions/{session_id}", response_model=SessionOut, summary="One session of the read model")
async def get_session(session_id: UUID, principal: CurrentPrincipal, db: DbSession, runtime: RuntimeDep) -> SessionOut:
    row = await db.get(CatalogueSession, session_id)
    if row is None:
        raise NotFound(f"No session {session_id} is known to orientation")
    return session_out(row, runtime.settings)
