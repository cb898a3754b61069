"""One person's trajectory across schemes (docs/outcomes.md, "Trajectories"): who may see which part, and the time order.

Visibility: the Region sees everything; a prescriber the prescriptions it made and the
training files opened from them; a training organisation the prescriptions to its sessions
and its own training files; the outcomes follow their training file. Someone who took part
in nothing sees nothing (the API answers 404: the person's existence does not leak).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any


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


# Within one day: prescription steps, then the file's steps in life order, then outcomes.
RANK = {
    "prescription": 0, "enrolled": 1, "entered": 2, "interrupted": 3, "resumed": 4, "exited": 5,
    "cancelled": 6, "outcome": 7,
}


@dataclass(frozen=True)
class Step:
    """One dated item of the trajectory."""

    on: date
    kind: str  # prescription, enrolled, entered, interrupted, resumed, exited, cancelled, outcome
    at: datetime | None = None
    prescription_id: str | None = None
    dossier_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple:
        instant = self.at or datetime.combine(self.on, time.min, tzinfo=UTC)
        return (self.on, RANK.get(self.kind, 9), instant)


def in_time_order(steps: list[Step]) -> list[Step]:
    return sorted(steps, key=Step.sort_key)
