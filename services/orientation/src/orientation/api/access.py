"""Who may see which prescription, and who may do what to it (docs/developing.md, "Rendering and
access rules"): a prescriber sees its structure's prescriptions, a training organisation those to
its sessions, the Region all; an action is done by the party whose role it is."""

from __future__ import annotations

from uuid import UUID

from pacte_common.auth import OrgKind, Principal
from pacte_common.errors import Forbidden, NotFound
from sqlalchemy import ColumnElement, true

from orientation.db.models import Prescription
from orientation.domain.prescription import PRESCRIPTION, Action, Role, Status, role_of


def prescriptions_visible_to(principal: Principal) -> ColumnElement[bool]:
    """`may_see_prescription` as a filter, for the lists and the counts; 403 for kinds that see none."""
    match principal.org_kind:
        case OrgKind.REGION:
            return true()
        case OrgKind.PRESCRIBER:
            return Prescription.prescriber_code == principal.org_id
        case OrgKind.TRAINING_ORG:
            return Prescription.organisation_siret == principal.org_id
        case _:
            raise Forbidden("Prescriptions are shared between prescribers, training organisations and the Region")


def may_see_prescription(principal: Principal, prescription: Prescription) -> bool:
    match principal.org_kind:
        case OrgKind.REGION:
            return True
        case OrgKind.PRESCRIBER:
            return prescription.prescriber_code == principal.org_id
        case OrgKind.TRAINING_ORG:
            return prescription.organisation_siret == principal.org_id
        case _:
            return False


def ensure_prescription_readable(principal: Principal, prescription: Prescription | None, prescription_id: UUID) -> Prescription:
    """The prescription, or 404 whether it does not exist or belongs to someone else (no leak)."""
    prescriptions_visible_to(principal)  # 403 for kinds that see no prescription at all
    if prescription is None or not may_see_prescription(principal, prescription):
        raise NotFound(f"No prescription {prescription_id} visible to you")
    return prescription


def ensure_action_doable(principal: Principal, action: Action) -> None:
    """403 unless the caller's kind is the action's role."""
    role = role_of(action)
    if principal.org_kind.value != role.value:
        raise Forbidden(f"'{action.value}' is done by the {role.value.replace('_', ' ')}")


def actions_for(principal: Principal, status: Status) -> list[str]:
    """What this caller may do from `status` (the Region is shown both partners' actions)."""
    roles = {
        OrgKind.PRESCRIBER: [Role.PRESCRIBER],
        OrgKind.TRAINING_ORG: [Role.TRAINING_ORG],
        OrgKind.REGION: [Role.TRAINING_ORG, Role.PRESCRIBER],
    }.get(principal.org_kind, [])
    return [a.value for role in roles for a in PRESCRIPTION.allowed_actions(status, role)]
