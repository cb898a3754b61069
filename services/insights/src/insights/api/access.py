"""Who reads what (docs/developing.md, "Rendering and access rules"), and today's business date.

- Indicators and result indicators: the Region, any organisation's or all; a training
  organisation, only its own.
- A skills passport: the Region, and the person's current prescriber (another prescriber's
  person answers 404: its existence does not leak).
- A trajectory: the Region sees everything; a prescriber the prescriptions it made and the
  training files opened from them; a training organisation the prescriptions to its sessions and
  its own training files; the outcomes follow their training file. Someone who took part in
  nothing sees nothing (404: the person's existence does not leak). The use case is handed a
  `Viewer` and filters by it.

Today comes from the app's clock (tests pass a fixed one): the as-of day of the result indicators
and the retention cutoffs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request
from pacte_common.auth import OrgKind, Principal
from pacte_common.clock import business_today, utcnow
from pacte_common.errors import Forbidden

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return utcnow()


def get_today(request: Request) -> date:
    clock: Clock = request.app.state.clock
    return business_today(request.app.state.runtime.settings.business_timezone, clock())


Today = Annotated[date, Depends(get_today)]


def _organisation_scope(principal: Principal, organisation: str | None, what: str) -> str | None:
    """The organisation whose figures are computed (None: all): a training organisation's own only."""
    if principal.org_kind is OrgKind.TRAINING_ORG:
        if organisation not in (None, principal.org_id):
            raise Forbidden(f"A training organisation sees its own {what}")
        return principal.org_id
    if principal.org_kind is not OrgKind.REGION:
        raise Forbidden(f"{what.capitalize()} are read by the Region and training organisations")
    return organisation


def indicators_scope(principal: Principal, organisation: str | None) -> str | None:
    return _organisation_scope(principal, organisation, "indicators")


def results_scope(principal: Principal, organisation: str | None) -> str | None:
    if principal.org_kind not in (OrgKind.TRAINING_ORG, OrgKind.REGION):
        raise Forbidden("Result indicators are read by the Region and training organisations")
    return _organisation_scope(principal, organisation, "results")


def ensure_skills_readable(principal: Principal) -> None:
    if principal.org_kind not in (OrgKind.REGION, OrgKind.PRESCRIBER):
        raise Forbidden("A skills passport is read by the Region and by the person's current prescriber")


def may_see_skills(principal: Principal, current_prescriber: str | None) -> bool:
    return principal.org_kind is not OrgKind.PRESCRIBER or current_prescriber == principal.org_id


@dataclass(frozen=True)
class Viewer:
    kind: str  # region, prescriber, training_org, paying_agency
    org_id: str

    def sees_prescription(self, prescriber_code: str, organisation_siret: str) -> bool:
        match self.kind:
            case "region":
                return True
            case "prescriber":
                return prescriber_code == self.org_id
            case "training_org":
                return organisation_siret == self.org_id
            case _:
                return False

    def sees_file(self, prescriber_code: str | None, organisation_siret: str) -> bool:
        match self.kind:
            case "region":
                return True
            case "prescriber":
                return prescriber_code is not None and prescriber_code == self.org_id
            case "training_org":
                return organisation_siret == self.org_id
            case _:
                return False


def viewer_of(principal: Principal) -> Viewer:
    return Viewer(principal.org_kind.value, principal.org_id)
