"""What the Region's and an organisation's overview says of the sheets (docs/attendance.md §8). Pure.

A half-day counts its trainees (those in training that day) as signed, declared absent, or
unsigned (neither yet). A month waits for validation when it is over, not closed, has at least
one trainee's half-day, every trainee's half-day is signed or declared absent and every
half-day with a trainee is countersigned: exactly what the month's close accepts (§4).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from attendance.domain.sheet import Cell


@dataclass(frozen=True)
class HalfDayCounts:
    trainees: int
    signed: int
    absent: int
    unsigned: int


def counts(cells: list[Cell]) -> HalfDayCounts:
    """The trainees of one half-day: signed (and not declared absent), declared absent, neither."""
    absent = sum(1 for c in cells if c.absent)
    signed = sum(1 for c in cells if c.signed and not c.absent)
    return HalfDayCounts(trainees=len(cells), signed=signed, absent=absent, unsigned=len(cells) - signed - absent)


def month_waiting(cells: dict[uuid.UUID, list[Cell]], countersigned: set[uuid.UUID]) -> bool:
    """A month (its half-days' cells) that the close would accept: some trainee's half-day, all
    settled, every half-day with a trainee countersigned. Whether it is over and not closed is the caller's."""
    with_trainees = [half_day for half_day, found in cells.items() if found]
    return bool(with_trainees) and all(c.settled for found in cells.values() for c in found) \
        and all(half_day in countersigned for half_day in with_trainees)


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the day's week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def months_before(day: date, count: int) -> list[str]:
    """The `count` months before the day's month (YYYY-MM), the most recent first."""
    year, month, found = day.year, day.month, []
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        found.append(f"{year:04d}-{month:02d}")
    return found
