"""Who may see and change what (docs/conventions.md §2.5), and today's business date.

- The Region sees and changes everything.
- A training organisation (org_id = SIRET) sees and changes only its sessions' files;
  another organisation's file answers 404, so its existence does not leak.
- A prescriber (org_id = structure code) may read the files of the people it prescribed.
- The catalogue is read by the Region, training organisations and prescribers (a training
  organisation: its own actions and sessions); the paying agency reads none of it.

The routes call these rules (docs/developing.md, "Rendering and access rules"); a use case that
checks inside its transaction is handed the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request
from pacte_common.auth import OrgKind, Principal
from pacte_common.clock import business_today, utcnow
from pacte_common.errors import Forbidden, NotFound
from sqlalchemy import ColumnElement, true

from sessions.db.models import Action, Dossier, TrainingSession

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return utcnow()


def get_today(request: Request) -> date:
    """Today in the business time zone: the day a declaration is made."""
    clock: Clock = request.app.state.clock
    return business_today(request.app.state.runtime.settings.business_timezone, clock())


Today = Annotated[date, Depends(get_today)]


def siret_seen_by(principal: Principal) -> str | None:
    """The one organisation whose actions, sessions and files a caller sees; None: no such limit."""
    return principal.org_id if principal.org_kind is OrgKind.TRAINING_ORG else None


def ensure_catalogue_readable(principal: Principal) -> None:
    if principal.org_kind is OrgKind.PAYING_AGENCY:
        raise Forbidden("The catalogue is read by the Region, training organisations and prescribers")


def ensure_action_visible(principal: Principal, action: Action | None) -> Action:
    if action is None or siret_seen_by(principal) not in (None, action.organisation_siret):
        raise NotFound("No such action")
    ensure_catalogue_readable(principal)
    return action


def can_read_session(principal: Principal, session: TrainingSession) -> bool:
    if principal.org_kind is OrgKind.TRAINING_ORG:
        return session.action.organisation_siret == principal.org_id
    return principal.org_kind in (OrgKind.REGION, OrgKind.PRESCRIBER)


def ensure_session_visible(principal: Principal, session: TrainingSession | None) -> TrainingSession:
    if session is None or not can_read_session(principal, session):
        raise NotFound("No such session")
    return session


def can_read_dossier(principal: Principal, dossier: Dossier) -> bool:
    match principal.org_kind:
        case OrgKind.REGION:
            return True
        case OrgKind.TRAINING_ORG:
            return dossier.session.action.organisation_siret == principal.org_id
        case OrgKind.PRESCRIBER:
            return dossier.prescriber_code is not None and dossier.prescriber_code == principal.org_id
        case _:
            return False


def ensure_dossier_readable(principal: Principal, dossier: Dossier | None) -> Dossier:
    if dossier is None or not can_read_dossier(principal, dossier):
        raise NotFound("No such training file")
    return dossier


def ensure_dossier_writable(principal: Principal, dossier: Dossier | None) -> Dossier:
    dossier = ensure_dossier_readable(principal, dossier)
    if principal.org_kind not in (OrgKind.REGION, OrgKind.TRAINING_ORG):
        raise Forbidden("Only the training organisation or the Region declares on a training file")
    return dossier


def dossiers_visible_to(principal: Principal) -> ColumnElement[bool]:
    """`can_read_dossier` as a filter over files joined to their session's action, for the lists."""
    match principal.org_kind:
        case OrgKind.TRAINING_ORG:
            return Action.organisation_siret == principal.org_id
        case OrgKind.PRESCRIBER:
            return Dossier.prescriber_code == principal.org_id
        case OrgKind.REGION:
            return true()
        case _:
            raise Forbidden("Training files are read by the Region, training organisations and prescribers")
