"""Working days and late declarations (docs/rules.md §4.2: entry and exit within 3 working days).

Working days are Monday to Friday except French public holidays, taken from the maintained
`holidays` library (subdivision optional: Alsace-Moselle has two more days).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=16)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


class WorkingCalendar:
    def __init__(self, country: str = "FR", subdivision: str | None = None):
        self.country = country
        self.subdivision = subdivision

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _public_holidays(self.country, self.subdivision, day.year)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days strictly after `start` up to and including `end` (0 if end <= start)."""
        count = 0
        day = start + timedelta(days=1)
        while day <= end:
            if self.is_working_day(day):
                count += 1
            day += timedelta(days=1)
        return count

    def is_late(self, declared_date: date, declared_on: date, allowed_working_days: int) -> bool:
        """A declaration made more than `allowed_working_days` working days after the date it declares."""
        return self.working_days_between(declared_date, declared_on) > allowed_working_days
