"""Money and calendar helpers shared by the rules: cents, months, days in training (ages: pacte_common.clock)."""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def cents(amount: Decimal) -> Decimal:
    """Each component is rounded half-up to the cent (docs/rules.md §5.7)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def euros(amount: Decimal) -> str:
    """An amount as an operator reads it in an explanation: '1 234.50 €'."""
    return f"{cents(amount):,.2f} €".replace(",", " ")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH_RE.match(text or "")
        if not match:
            raise ValueError("month must be YYYY-MM, e.g. 2021-05")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.number, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.number, self.days)

    @property
    def days(self) -> int:
        return _days_in_month(self.year, self.number)

    def next(self) -> Month:
        return Month(self.year + (self.number == 12), self.number % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.number:02d}"


@functools.cache
def _days_in_month(year: int, number: int) -> int:
    return calendar.monthrange(year, number)[1]  # cached: a run asks it for the same few months of every file


@dataclass(frozen=True)
class Interruption:
    """An interruption runs from its first day to the day before the resumption."""

    start_date: date
    resumption_date: date | None = None
    declared_on: date | None = field(default=None, compare=False)  # when remuneration learnt of it

    def overlaps(self, month: Month) -> bool:
        end = (self.resumption_date - timedelta(1)) if self.resumption_date else None
        return self.start_date <= month.last_day and (end is None or end >= month.first_day)

    def describe(self) -> str:
        end = self.resumption_date.isoformat() if self.resumption_date else "…"
        declared = f" (declared on {self.declared_on.isoformat()})" if self.declared_on else ""
        return f"{self.start_date.isoformat()}→{end}{declared}"


def training_days(
    month: Month, entry_date: date, exit_date: date | None, interruptions: tuple[Interruption, ...] = ()
) -> set[date]:
    """The days of `month` in training: entry to exit both included, less interruption days."""
    if exit_date is not None and exit_date < entry_date:
        return set()
    first = max(month.first_day, entry_date)
    last = min(month.last_day, exit_date) if exit_date else month.last_day
    days = {first + timedelta(n) for n in range((last - first).days + 1)} if first <= last else set()
    for interruption in interruptions:
        end = (interruption.resumption_date - timedelta(1)) if interruption.resumption_date else month.last_day
        day = interruption.start_date
        while day <= end and day <= month.last_day:
            days.discard(day)
            day += timedelta(1)
    return days
