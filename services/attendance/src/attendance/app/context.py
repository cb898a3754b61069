"""What every use case is handed besides the database: the clock, the settings, the evidence of a request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pacte_common.clock import utcnow

from attendance.settings import AttendanceSettings


def now(settings: AttendanceSettings) -> datetime:
    """Server time. In development only, a clock file (settings.clock_file, an ISO instant) may
    stand in for it, so a journey test signs half-days of a past month."""
    if settings.clock_file and settings.environment == "development":
        path = Path(settings.clock_file)
        written = path.read_text().strip() if path.exists() else ""  # read once: a test may rewrite it
        if written:
            return datetime.fromisoformat(written).astimezone(UTC)
    return utcnow()


@dataclass(frozen=True)
class Caller:
    """Who calls a use case, as api/access.py states it: `actor` for the records, `organisation` the
    one SIRET whose sessions, sheets and flags the caller sees (None: every one, the Region)."""

    actor: str
    organisation: str | None


@dataclass(frozen=True)
class Evidence:
    """What the request tells of the signer's device, hashed with the service's salt."""

    ip_hash: str | None
    user_agent_hash: str | None
    device_hash: str | None

    @classmethod
    def of(cls, settings: AttendanceSettings, ip: str | None, user_agent: str | None, device: str | None) -> Evidence:
        def digest(value: str | None) -> str | None:
            return hashlib.sha256(f"{settings.evidence_salt}|{value}".encode()).hexdigest() if value else None

        device_key = device or (f"{ip}|{user_agent}" if ip or user_agent else None)
        return cls(digest(ip), digest(user_agent), digest(device_key))
