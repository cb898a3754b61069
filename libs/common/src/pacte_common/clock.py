"""Business days: the Region's calendar day, not the UTC one (a trainee turning 16 at 00:30 in
Nantes is 16 that day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def business_today(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def start_of_business_day(timezone: str, day: date) -> datetime:
    """The UTC instant a business day starts, for filtering UTC timestamps by local dates."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
