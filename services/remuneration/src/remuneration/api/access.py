"""Who may see which file (docs/conventions.md §2.5): a training organisation sees only its sessions' files."""

from __future__ import annotations

from uuid import UUID

from pacte_common.auth import OrgKind, Principal
from pacte_common.errors import NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.models import RemunerationFile

# The body names the file the request acts on: unknown, it is a 404 naming body.dossier_id.
UNKNOWN_FILE = {404: {"description": "No such training file (`field`: body.dossier_id), or not the caller's"}}


def may_see(principal: Principal, siret: str) -> bool:
    return principal.org_kind is not OrgKind.TRAINING_ORG or principal.org_id == siret


async def file_for_body(db: AsyncSession, principal: Principal, dossier_id: UUID, *, lock: bool = False
                        ) -> RemunerationFile:
    """The file a request body names; unknown (or not the caller's) → 404 naming body.dossier_id."""
    file = await db.get(RemunerationFile, dossier_id, with_for_update=lock)
    if file is None or not may_see(principal, file.organisation_siret):
        raise NotFound("unknown training file: remuneration has not received it from sessions (yet)",
                       field="body.dossier_id")
    return file


async def file_for_path(db: AsyncSession, principal: Principal, dossier_id: UUID) -> RemunerationFile:
    file = await db.get(RemunerationFile, dossier_id)
    if file is None or not may_see(principal, file.organisation_siret):
        raise NotFound("No such training file")
    return file
