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


@dataclass(frozen=True, slots=True)
class TrainingDays:
    """The days of a month in training, as disjoint spans of consecutive days (first, last), in order.

    Counted arithmetically: a run asks it several times for every month of every file it visits."""

    spans: tuple[tuple[date, date], ...] = ()

    @property
    def count(self) -> int:
        return sum((last - first).days + 1 for first, last in self.spans)

    def count_until(self, day: date | None) -> int:
        """How many of these days are on or before `day` (all of them when `day` is None)."""
        if day is None:
            return self.count
        return sum((min(last, day) - first).days + 1 for first, last in self.spans if first <= day)

    def any_after(self, day: date) -> bool:
        return bool(self.spans) and self.spans[-1][1] > day

    def __bool__(self) -> bool:
        return bool(self.spans)

    def dates(self) -> set[date]:
        return {first + timedelta(n) for first, last in self.spans for n in range((last - first).days + 1)}


NO_DAYS = TrainingDays()


def days_in_training(
    month: Month, entry_date: date, exit_date: date | None, interruptions: tuple[Interruption, ...] = ()
) -> TrainingDays:
    """The days of `month` in training: entry to exit both included, less interruption days."""
    if exit_date is not None and exit_date < entry_date:
        return NO_DAYS
    month_last = month.last_day
    first = max(month.first_day, entry_date)
    last = min(month_last, exit_date) if exit_date else month_last
    if first > last:
        return NO_DAYS
    spans = [(first, last)]
    for interruption in interruptions:
        # From its first day to the day before the resumption (to the month's end while not resumed).
        start = interruption.start_date
        end = interruption.resumption_date - _ONE_DAY if interruption.resumption_date else month_last
        if start > last or end < first or end < start:
            continue
        kept = []
        for span_first, span_last in spans:
            if end < span_first or start > span_last:
                kept.append((span_first, span_last))
                continue
            if start > span_first:
                kept.append((span_first, start - _ONE_DAY))
            if end < span_last:
                kept.append((end + _ONE_DAY, span_last))
        spans = kept
    return TrainingDays(tuple(spans))


_ONE_DAY = timedelta(1)
