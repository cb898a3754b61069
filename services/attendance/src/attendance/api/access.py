"""Who sees which sheets (docs/developing.md, "Rendering and access rules"): the Region every
session's, a training organisation only its own; the sheets are for them alone. The use cases
are handed the rule's answer (a `Caller`) and filter by it."""

from __future__ import annotations

from pacte_common.auth import OrgKind, Principal
from pacte_common.errors import Forbidden

from attendance.app.context import Caller


def organisation_seen_by(principal: Principal) -> str | None:
    """The one SIRET whose sessions, sheets and flags the caller sees; None: every one (the Region)."""
    match principal.org_kind:
        case OrgKind.REGION:
            return None
        case OrgKind.TRAINING_ORG:
            return principal.org_id
        case _:
            raise Forbidden("the sheets are for the training organisation and the Region")


def caller_of(principal: Principal) -> Caller:
    return Caller(actor=principal.describe(), organisation=organisation_seen_by(principal))
