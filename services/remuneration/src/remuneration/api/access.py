"""Who may see what (docs/conventions.md §2.5; docs/developing.md, "Rendering and access rules"):
a training organisation sees only its sessions' files and statements; debts are the trainee's money,
for the Region and the paying agency; NIR and IBAN in clear only for who pays."""

from __future__ import annotations

from uuid import UUID

from pacte_common.auth import OrgKind, Principal
from pacte_common.errors import NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.models import RemunerationFile, Statement

# The body names the file the request acts on: unknown, it is a 404 naming body.dossier_id.
UNKNOWN_FILE = {404: {"description": "No such training file (`field`: body.dossier_id), or not the caller's"}}


def siret_seen_by(principal: Principal) -> str | None:
    """The one organisation whose files a caller sees; None: every one."""
    return principal.org_id if principal.org_kind is OrgKind.TRAINING_ORG else None


def may_see(principal: Principal, siret: str) -> bool:
    return siret_seen_by(principal) in (None, siret)


def may_see_debts(principal: Principal) -> bool:
    """The trainee's money, not the organisation's."""
    return principal.org_kind in (OrgKind.REGION, OrgKind.PAYING_AGENCY)


def may_see_identifiers_in_clear(principal: Principal) -> bool:
    """NIR and IBAN in clear only for who pays; the Region checks totals and lines on masked values."""
    return principal.org_kind is OrgKind.PAYING_AGENCY


def ensure_statement_readable(principal: Principal, row: tuple[Statement, str] | None) -> tuple[Statement, str]:
    """A statement with its run's state, or 404 whether unknown or another organisation's."""
    if row is None or not may_see(principal, row[0].organisation_siret):
        raise NotFound("No such statement")
    return row


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
