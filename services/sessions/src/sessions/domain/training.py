"""Date, places and attendance rules of a training file (docs/rules.md §4). Pure functions.

Each rule raises `RuleBroken(field, message)`; the HTTP edge turns it into a 422 naming
the field, so nothing is stored or published when a rule fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


class RuleBroken(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SessionPeriod:
    start_date: date
    end_date: date
    places: int
    permanent_entries: bool


@dataclass(frozen=True)
class InterruptionSpan:
    start_date: date
    resumption_date: date | None


# ---------------------------------------------------------------- entry


def check_entry(session: SessionPeriod, entry_date: date, places_taken: int) -> None:
    """Entry inside the session's period; with permanent entries, any day until its end.

    `places_taken` counts the files already holding a place (entered, not cancelled).
    """
    if session.permanent_entries:
        if entry_date > session.end_date:
            raise RuleBroken("body.entry_date", f"entry must be on or before the session's end ({session.end_date})")
    elif not session.start_date <= entry_date <= session.end_date:
        raise RuleBroken(
            "body.entry_date",
            f"entry must fall within the session's period ({session.start_date} to {session.end_date})",
        )
    if session.places == 0:
        raise RuleBroken("body.entry_date", "the session's places are unknown (an LHEO import without places): the Region sets them first")
    if places_taken >= session.places:
        raise RuleBroken("body.entry_date", f"the session is full: {places_taken} of {session.places} places taken")


def last_event_date(entry_date: date, interruptions: list[InterruptionSpan]) -> date:
    """The latest date already declared on the file: entry, an interruption or a resumption."""
    latest = entry_date
    for span in interruptions:
        latest = max(latest, span.start_date, span.resumption_date or span.start_date)
    return latest


def check_interruption(entry_date: date, interruptions: list[InterruptionSpan], start: date, expected_return: date | None) -> None:
    latest = last_event_date(entry_date, interruptions)
    if start < entry_date:
        raise RuleBroken("body.start_date", f"an interruption starts on or after the entry ({entry_date})")
    if start < latest:
        raise RuleBroken("body.start_date", f"declarations go in order: the last one is dated {latest}")
    if expected_return is not None and expected_return <= start:
        raise RuleBroken("body.expected_return_date", "the expected return comes after the interruption's start")


def check_resumption(open_interruption: InterruptionSpan, resumption: date) -> None:
    if resumption <= open_interruption.start_date:
        raise RuleBroken(
            "body.resumption_date", f"the resumption comes after the interruption's start ({open_interruption.start_date})"
        )


def check_exit(entry_date: date, interruptions: list[InterruptionSpan], exit_date: date) -> None:
    latest = last_event_date(entry_date, interruptions)
    if exit_date < entry_date:
        raise RuleBroken("body.exit_date", f"the exit comes on or after the entry ({entry_date})")
    if exit_date < latest:
        raise RuleBroken("body.exit_date", f"declarations go in order: the last one is dated {latest}")


# ---------------------------------------------------------------- attendance


@dataclass(frozen=True)
class MonthlyAttendance:
    planned_hours: Decimal
    attended_hours: Decimal
    justified_absence_hours: Decimal
    unjustified_absence_hours: Decimal
    in_company_hours: Decimal = Decimal("0")

    @property
    def declared_total(self) -> Decimal:
        return self.attended_hours + self.justified_absence_hours + self.unjustified_absence_hours + self.in_company_hours

    @property
    def realised_hours(self) -> Decimal:
        """Hours actually done, in centre and in company (the *heure stagiaire* bought)."""
        return self.attended_hours + self.in_company_hours


def month_bounds(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, date.fromordinal(following.toordinal() - 1)


def check_attendance(
    statement: MonthlyAttendance, month: str, entry_date: date | None, exit_date: date | None, *,
    session_start: date, session_end: date, today: date,
) -> None:
    """Totals within planned hours; the month within the session's months, not in the future,
    and within the file's training (entry to exit). Nothing is recorded, so nothing can be
    paid, for a month outside the training."""
    first, last = month_bounds(month)
    if first > today:
        raise RuleBroken("path.month", f"the month {month} is in the future (today is {today})")
    if first > session_end:
        raise RuleBroken("path.month", f"the month {month} is after the session's end ({session_end})")
    if last < session_start:
        raise RuleBroken("path.month", f"the month {month} is before the session's start ({session_start})")
    if entry_date is None:
        raise RuleBroken("path.month", "attendance is recorded once the entry is declared")
    if last < entry_date:
        raise RuleBroken("path.month", f"the month {month} is before the entry ({entry_date})")
    if exit_date is not None and first > exit_date:
        raise RuleBroken("path.month", f"the month {month} is after the exit ({exit_date})")
    if statement.declared_total > statement.planned_hours:
        raise RuleBroken(
            "body.attended_hours",
            f"attended, absence and in-company hours ({statement.declared_total}) exceed planned hours ({statement.planned_hours})",
        )


# ---------------------------------------------------------------- late facts


def months_after(day: date, months: list[str]) -> list[str]:
    """The months lying entirely after `day` (an exit): their attendance is voided."""
    return [month for month in months if month_bounds(month)[0] > day]


def exit_void_reason(exit_date: date, declared_on: date) -> str:
    return f"exit on {exit_date} declared on {declared_on}"


def cancel_void_reason(declared_on: date) -> str:
    return f"entry cancelled on {declared_on}"


# ---------------------------------------------------------------- solde


def realised_cost(realised_hours: Decimal, hourly_price: Decimal) -> Decimal:
    """The *solde*: realised hours × the action's hourly price, rounded half-up to the cent."""
    return (realised_hours * hourly_price).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- places


def holds_place(status: str, permanent_entries: bool) -> bool:
    """Whether a file counts in the session's places taken.

    An entered file holds its place to the end; with permanent entries and exits a trainee
    who left frees the place for another.
    """
    if status in ("in_training", "interrupted"):
        return True
    return status == "exited" and not permanent_entries


def recruitment_state_after(current: str, places: int, places_taken: int) -> str:
    """Open sessions become full at their last place and reopen when one frees; closed stays closed."""
    if current == "open" and places_taken >= places:
        return "full"
    if current == "full" and places_taken < places:
        return "open"
    return current
