"""The schedule's rules (docs/attendance.md §1). Pure functions.

A half-day is a morning (starts before 13:00) or an afternoon. A weekly pattern gives, for
each weekday, which half-days are held and their times; generated half-days skip French public
holidays (the `holidays` package) and the organisation's closures. An iCalendar file gives one
half-day per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import holidays
import icalendar

MORNING, AFTERNOON = "morning", "afternoon"
PERIODS = (MORNING, AFTERNOON)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NOON = time(13, 0)


class ScheduleError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Slot:
    starts_at: time
    ends_at: time


@dataclass(frozen=True)
class Planned:
    day: date
    period: str
    starts_at: time
    ends_at: time
    hours: Decimal
    place: str | None = None
    distance: bool = False
    trainer: str | None = None


def hours_between(start: time, end: time) -> Decimal:
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    return (Decimal(minutes) / Decimal(60)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def period_of(start: time) -> str:
    return MORNING if start < NOON else AFTERNOON


def check_slot(field: str, slot: Slot) -> None:
    if slot.ends_at <= slot.starts_at:
        raise ScheduleError(field, "the end must come after the start")


def public_holidays(first: date, last: date) -> dict[date, str]:
    """French public holidays (metropolitan France) between two days, with their names."""
    found = holidays.country_holidays("FR", years=range(first.year, last.year + 1))
    return {day: name for day, name in found.items() if first <= day <= last}


def generate(first: date, last: date, pattern: dict[str, list[str]], slots: dict[str, Slot], *,
             closures: list[tuple[date, date]] = (), place: str | None = None, distance: bool = False,
             trainer: str | None = None) -> tuple[list[Planned], list[date]]:
    """The half-days of a weekly pattern between two days (included); also the days skipped."""
    if last < first:
        raise ScheduleError("body.last_day", "the last day comes before the first")
    if (last - first).days > 731:
        raise ScheduleError("body.last_day", "a pattern covers two years at most")
    for weekday, periods in pattern.items():
        if weekday not in WEEKDAYS:
            raise ScheduleError(f"body.weekdays.{weekday}", f"a weekday is one of {', '.join(WEEKDAYS)}")
        for period in periods:
            if period not in PERIODS:
                raise ScheduleError(f"body.weekdays.{weekday}", "a period is morning or afternoon")
    for period, slot in slots.items():
        check_slot(f"body.{period}", slot)
    off = public_holidays(first, last)
    planned, skipped = [], []
    day = first
    while day <= last:
        periods = pattern.get(WEEKDAYS[day.weekday()], [])
        if periods and (day in off or any(start <= day <= end for start, end in closures)):
            skipped.append(day)
        else:
            for period in PERIODS:
                if period in periods:
                    slot = slots[period]
                    planned.append(Planned(day, period, slot.starts_at, slot.ends_at, hours_between(slot.starts_at, slot.ends_at),
                                           place, distance, trainer))
        day += timedelta(days=1)
    return planned, skipped


def _local(value, timezone) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone).replace(tzinfo=None) if value.tzinfo else value
    raise ScheduleError("body", "each event needs a start and an end time (DTSTART/DTEND with a time)")


def from_icalendar(content: bytes, timezone) -> list[Planned]:
    """One half-day per VEVENT: its start and end (local time), LOCATION as the place (none, or
    a URL, or 'distance' / 'à distance': distance learning), the ORGANIZER's name as the trainer."""
    try:
        calendar = icalendar.Calendar.from_ical(content)
    except ValueError as exc:
        raise ScheduleError("body", f"not an iCalendar file: {exc}") from None
    planned = []
    for event in calendar.walk("VEVENT"):
        if "DTSTART" not in event or "DTEND" not in event:
            raise ScheduleError("body", "each event needs DTSTART and DTEND")
        start, end = _local(event.decoded("DTSTART"), timezone), _local(event.decoded("DTEND"), timezone)
        if start.date() != end.date() or end <= start:
            raise ScheduleError("body", f"event {event.get('SUMMARY', '')!s}: a half-day starts and ends the same day, in order")
        location = str(event.get("LOCATION", "") or "").strip()
        distance = location.lower() in ("distance", "à distance", "a distance", "fad") or location.startswith("http")
        organizer = event.get("ORGANIZER")
        trainer = str(organizer.params.get("CN", "")) if organizer is not None else None
        planned.append(Planned(start.date(), period_of(start.time()), start.time(), end.time(),
                               hours_between(start.time(), end.time()), location or None, distance, trainer or None))
    if not planned:
        raise ScheduleError("body", "the file holds no event (VEVENT)")
    return planned
