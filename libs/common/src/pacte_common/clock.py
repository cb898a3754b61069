"""The one clock of the suite, and the calendar rules every service shares.

- `utcnow()`: every timestamp the services write (timezone-aware UTC); nothing else calls
  `datetime.now`.
- Business days: the Region's calendar day, not the UTC one (a trainee turning 16 at 00:30 in
  Nantes is 16 that day).
- `age_on`: a person's age in whole years on a day.
- `months_before`: the same day some months earlier (or later, with a negative count),
  clamped to the month's last day.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day` (someone born on 29 February turns a year older on 1 March)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def business_today(timezone: str, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def start_of_business_day(timezone: str, day: date) -> datetime:
    """The UTC instant a business day starts, for filtering UTC timestamps by local dates."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def months_before(day: date, months: int) -> date:
    """`day` moved `months` months back (forward when negative), clamped to the month's last day
    (31 March − 1 month → 28 or 29 February)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
