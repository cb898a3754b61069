"""Months and periods of the filters."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        # ASCII digits only: int() also reads full-width ones, which then reach headers and URLs
        if not _MONTH.fullmatch(text):
            raise ValueError(f"{text!r} is not a month (YYYY-MM)")
        value = cls(int(text[:4]), int(text[5:]))
        if not 1 <= value.month <= 12:
            raise ValueError(f"{text!r} is not a month (YYYY-MM)")
        return value

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)


def months_between(start: Month | None, end: Month | None, *, current: Month, default: int, maximum: int) -> list[Month]:
    """The months a monthly series shows: the chosen period, else `default` months to date.
    Longer than `maximum`: ValueError (the page says so)."""
    if start is None and end is None:
        end = current
    if start is None:
        start = end.plus(-(default - 1))
    if end is None:
        end = start.plus(default - 1)
    if end < start:
        raise ValueError("the period ends before it starts")
    months = []
    month = start
    while month <= end:
        months.append(month)
        if len(months) > maximum:
            raise ValueError(f"choose a period of at most {maximum} months")
        month = month.plus(1)
    return months
