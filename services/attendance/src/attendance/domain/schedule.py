"""The schedule's rules (docs/attendance.md §1). Pure functions.

A half-day is a morning (starts before 13:00) or an afternoon. A weekly pattern gives, for
each weekday, which half-days are held and their times; generated half-days skip French public
holidays (the `holidays` package) and the organisation's closures. An iCalendar file gives one
half-day per event, a CSV file one per row (docs/attendance.md §1, "The CSV file").
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import holidays
import icalendar

MORNING, AFTERNOON = "morning", "afternoon"
PERIODS = (MORNING, AFTERNOON)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NOON = time(13, 0)


class ScheduleError(ValueError):
    """Bad schedule input: one field, or (a file) a list of errors each naming its row and column."""

    def __init__(self, field: str, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.field = field
        self.message = message
        self.errors = errors


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


DISTANCE_PLACES = ("distance", "à distance", "a distance", "fad")


def is_distance_place(place: str) -> bool:
    """A place that says distance learning: 'distance', 'à distance', 'FAD' or a URL."""
    return place.lower() in DISTANCE_PLACES or place.startswith("http")


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
        distance = is_distance_place(location)
        organizer = event.get("ORGANIZER")
        trainer = str(organizer.params.get("CN", "")) if organizer is not None else None
        planned.append(Planned(start.date(), period_of(start.time()), start.time(), end.time(),
                               hours_between(start.time(), end.time()), location or None, distance, trainer or None))
    if not planned:
        raise ScheduleError("body", "the file holds no event (VEVENT)")
    return planned


# The CSV file (docs/attendance.md §1): English column names, any order, case-insensitive.
CSV_COLUMNS = ("date", "half", "start", "end", "hours", "place", "distance", "trainer")
CSV_REQUIRED = ("date", "start", "end")
HALF_NAMES = {"morning": MORNING, "matin": MORNING, "am": MORNING,
              "afternoon": AFTERNOON, "après-midi": AFTERNOON, "apres-midi": AFTERNOON, "pm": AFTERNOON}
YES_NO = {"yes": True, "oui": True, "true": True, "1": True, "no": False, "non": False, "false": False, "0": False, "": False}


class _RowError(ValueError):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


def _text_of(content: bytes) -> str:
    """UTF-8 (with or without the BOM a spreadsheet writes), else Windows-1252 (older French exports)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="strict")


def _delimiter(header_line: str) -> str:
    """Semicolon (French spreadsheets) or comma, found on the header line by csv.Sniffer."""
    try:
        return csv.Sniffer().sniff(header_line, delimiters=";,").delimiter
    except csv.Error:
        return ";"


def _parse_day(value: str) -> date:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise _RowError("date", f"{value!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def _parse_time(column: str, value: str) -> time:
    for pattern in ("%H:%M", "%Hh%M", "%H:%M:%S"):
        try:
            return datetime.strptime(value, pattern).time()
        except ValueError:
            continue
    raise _RowError(column, f"{value!r} is not a time (HH:MM)")


def _csv_row(row: dict[str, str]) -> Planned:
    """One half-day from one row; _RowError names the column at fault."""
    for column in CSV_REQUIRED:
        if not row.get(column):
            raise _RowError(column, "required")
    day = _parse_day(row["date"])
    start, end = _parse_time("start", row["start"]), _parse_time("end", row["end"])
    if end <= start:
        raise _RowError("end", "the end must come after the start")
    period = period_of(start)
    half = row.get("half", "").lower()
    if half and HALF_NAMES.get(half) is None:
        raise _RowError("half", f"{row['half']!r} is not morning or afternoon (matin, après-midi)")
    if half and HALF_NAMES[half] != period:
        raise _RowError("half", f"a half-day starting at {start:%H:%M} is in the {period} (before 13:00: morning)")
    hours = hours_between(start, end)
    if row.get("hours"):
        try:
            hours = Decimal(row["hours"].replace(",", ".")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            if not hours.is_finite():  # NaN quantizes without a word, then fails any comparison
                raise InvalidOperation
        except InvalidOperation:
            raise _RowError("hours", f"{row['hours']!r} is not a number of hours") from None
        if not Decimal(0) < hours <= hours_between(start, end):
            raise _RowError("hours", "the hours are more than 0 and at most the time between start and end")
    place = row.get("place") or None
    distance = YES_NO.get(row.get("distance", "").lower())
    if distance is None:
        raise _RowError("distance", f"{row['distance']!r} is not yes or no (oui, non)")
    return Planned(day, period, start, end, hours, place, distance or is_distance_place(place or ""), row.get("trainer") or None)


def from_csv(content: bytes) -> list[Planned]:
    """One half-day per row of a CSV file, all or nothing: every bad row is reported, naming its
    row (the header is row 1) and its column."""
    try:
        text = _text_of(content)
    except UnicodeDecodeError:
        raise ScheduleError("body", "not a text file (UTF-8 or Windows-1252)") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ScheduleError("body.row[1]", "the first row is the header: " + ", ".join(CSV_COLUMNS))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0]))
    header = [name.strip().lower() for name in next(reader)]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = [name for name in CSV_REQUIRED if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        message = (f"unknown columns {', '.join(unknown)}; " if unknown else "") + (
            f"missing columns {', '.join(missing)}; " if missing else "") + f"the columns are {', '.join(CSV_COLUMNS)}, each once"
        raise ScheduleError("body.row[1]", message, [{"field": "body.row[1]", "row": 1, "column": None, "message": message}])
    planned, errors, seen = [], [], {}
    for values in reader:
        number = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            errors.append(_error(number, None, f"{len(values)} values for {len(header)} columns"))
            continue
        row = {name: value.strip() for name, value in zip(header, values, strict=False)}
        try:
            item = _csv_row(row)
        except _RowError as exc:
            errors.append(_error(number, exc.column, str(exc)))
            continue
        if (item.day, item.period) in seen:
            errors.append(_error(number, "date", f"the same half-day as row {seen[item.day, item.period]}"))
            continue
        seen[item.day, item.period] = number
        planned.append(item)
    if errors:
        raise ScheduleError("body", f"{len(errors)} bad rows: nothing was imported", errors)
    if not planned:
        raise ScheduleError("body", "the file holds no half-day: a header row, then one row per half-day")
    return planned


def _error(row: int, column: str | None, message: str) -> dict:
    return {"field": f"body.row[{row}]" + (f".{column}" if column else ""), "row": row, "column": column, "message": message}
