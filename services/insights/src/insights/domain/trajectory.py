"""One person's trajectory across schemes (docs/outcomes.md, "Trajectories"): its steps in time
order. Who may see which part is stated in api/access.py (`Viewer`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

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
