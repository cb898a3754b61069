"""Back-fill (reprise d'antériorité) rules: which export lines go to AGORA (docs/rules.md §6.6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from agora_gateway.domain.agora_file import FileState


class LineOutcome(StrEnum):
    INVALID = "invalid"  # the line cannot be read: reported, not crashed on
    SKIPPED_BY_DATE = "skipped_by_date"  # session entry before the cut-off
    EXCLUDED = "excluded"
    DELEGATED = "delegated"
    WAITING_NIR = "waiting_nir"
    ALREADY_KNOWN = "already_known"  # the live flow (or an earlier back-fill) already follows this file
    SENT = "sent"


def entry_reference_date(entry_date: date | None, session_start: date) -> date:
    """'Session entry date': the trainee's entry when known, else the session start."""
    return entry_date or session_start


def before_cutoff(entry_date: date | None, session_start: date, cutoff: date) -> bool:
    return entry_reference_date(entry_date, session_start) < cutoff


# The export's status → the state AGORA holds once the bulk record is loaded.
EXPORT_STATUS_TO_FILE_STATE = {
    "enrolled": FileState.CREATED,
    "in_training": FileState.IN_TRAINING,
    "interrupted": FileState.INTERRUPTED,
    "exited": FileState.EXITED,
    "settled": FileState.SETTLED,
    "cancelled": FileState.CANCELLED,
}


@dataclass
class BackfillReport:
    """The job's counters; `merge` adds a batch's counts (kept as JSON in the job row)."""

    read: int = 0
    invalid: int = 0
    skipped_by_date: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    delegated: int = 0
    waiting_nir: int = 0
    already_known: int = 0
    sent: int = 0
    acknowledged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: LineOutcome, reason: str | None = None) -> None:
        if outcome is LineOutcome.EXCLUDED:
            self.excluded[reason or "unknown"] = self.excluded.get(reason or "unknown", 0) + 1
        else:
            setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def reject(self, code: str) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "invalid": self.invalid,
            "skipped_by_date": self.skipped_by_date,
            "excluded": dict(sorted(self.excluded.items())),
            "excluded_total": sum(self.excluded.values()),
            "delegated": self.delegated,
            "waiting_nir": self.waiting_nir,
            "already_known": self.already_known,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> BackfillReport:
        data = data or {}
        return cls(
            **{k: data.get(k, 0) for k in ("read", "invalid", "skipped_by_date", "delegated", "waiting_nir", "already_known", "sent", "acknowledged")},
            excluded=dict(data.get("excluded", {})),
            rejected=dict(data.get("rejected", {})),
        )
