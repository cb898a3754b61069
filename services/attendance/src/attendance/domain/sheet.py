"""What a sheet says (docs/attendance.md §2–4). Pure functions.

For each trainee and half-day: signed (present), absent justified (a coded reason and a proof
reference), absent unjustified, or nothing yet (unsigned). The month's statement is built from
that: planned hours, attended hours (signed, less late arrival and early departure), justified
and unjustified absence hours; the four always add up (planned = attended + justified + unjustified).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

# The justified absence reasons, as the paying agency lists them (code → French label).
ABSENCE_REASONS: dict[str, str] = {
    "sickness": "Maladie (avec arrêt de travail ou certificat médical)",
    "work_accident": "Accident du travail ou de trajet",
    "maternity_paternity": "Congé maternité, paternité ou adoption",
    "family_event": "Événement familial (naissance, mariage, PACS, décès)",
    "child_sickness": "Enfant malade (avec certificat)",
    "job_interview": "Entretien d'embauche ou de recrutement",
    "france_travail": "Convocation de France Travail ou du prescripteur",
    "administrative": "Convocation administrative ou judiciaire",
    "exam": "Examen ou épreuve de certification",
    "authorised": "Absence autorisée par l'organisme (motif écrit)",
}
PERIOD_LABELS = {"morning": "matin", "afternoon": "après-midi"}
TWO_PLACES = Decimal("0.01")


class SheetError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def local_instant(day: date, at: time, timezone: str) -> datetime:
    """A half-day's day and local time as an aware instant (the sheets' time zone)."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone))


def signing_window(day: date, starts_at: time, ends_at: time, timezone: str, opens_before_min: int,
                   closes_after_min: int) -> tuple[datetime, datetime]:
    opens = local_instant(day, starts_at, timezone) - timedelta(minutes=opens_before_min)
    closes = local_instant(day, ends_at, timezone) + timedelta(minutes=closes_after_min)
    return opens, closes


def check_absence(absent: bool, justified: bool, reason_code: str | None, proof_reference: str | None,
                  late_minutes: int, early_minutes: int, half_day_minutes: int) -> None:
    if justified and not absent:
        raise SheetError("body.justified", "only an absence is justified")
    if justified and reason_code is None:
        raise SheetError("body.reason_code", "a justified absence needs a coded reason")
    if reason_code is not None and reason_code not in ABSENCE_REASONS:
        raise SheetError("body.reason_code", f"unknown reason; one of {', '.join(ABSENCE_REASONS)}")
    if reason_code is not None and not justified:
        raise SheetError("body.justified", "a reason is given for a justified absence: set justified")
    if justified and not (proof_reference or "").strip():
        raise SheetError("body.proof_reference", "a justified absence needs a reference to its proof")
    if absent and (late_minutes or early_minutes):
        raise SheetError("body.late_minutes", "lateness and early departure are for a trainee who was there")
    if late_minutes + early_minutes >= half_day_minutes:
        raise SheetError("body.late_minutes", "late arrival and early departure together exceed the half-day")


@dataclass
class Cell:
    """A trainee's half-day on the sheet."""

    hours: Decimal
    signed: bool = False
    absent: bool = False
    justified: bool = False
    reason_code: str | None = None
    late_minutes: int = 0
    early_minutes: int = 0

    @property
    def state(self) -> str:
        """How the sheet shows the cell: signed, unsigned, absent_justified or absent_unjustified."""
        if self.absent:
            return "absent_justified" if self.justified else "absent_unjustified"
        return "signed" if self.signed else "unsigned"

    @property
    def settled(self) -> bool:
        """Signed, or declared absent (justified or not): nothing left to do on it."""
        return self.signed or self.absent

    @property
    def missed_hours(self) -> Decimal:
        return (Decimal(self.late_minutes + self.early_minutes) / Decimal(60)).quantize(TWO_PLACES, ROUND_HALF_UP)


@dataclass
class Statement:
    planned_hours: Decimal = Decimal("0")
    attended_hours: Decimal = Decimal("0")
    justified_absence_hours: Decimal = Decimal("0")
    unjustified_absence_hours: Decimal = Decimal("0")
    planned_half_days: int = 0
    signed_half_days: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def month_statement(cells: list[Cell]) -> Statement:
    """The month of one trainee from its half-days. A signed half-day counts its hours less the
    late and early minutes (unjustified absence); an absent half-day counts as justified or not."""
    out = Statement()
    for cell in cells:
        out.planned_hours += cell.hours
        out.planned_half_days += 1
        if cell.signed and not cell.absent:
            missed = min(cell.missed_hours, cell.hours)
            out.attended_hours += cell.hours - missed
            out.unjustified_absence_hours += missed
            out.signed_half_days += 1
        elif cell.justified:
            out.justified_absence_hours += cell.hours
            out.reasons[cell.reason_code or ""] = out.reasons.get(cell.reason_code or "", 0) + 1
        else:
            out.unjustified_absence_hours += cell.hours
    return out


def month_bounds(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def in_training(day: date, entry_date: date | None, exit_date: date | None) -> bool:
    """A trainee is on the sheet of a day from the entry to the exit (both included)."""
    return entry_date is not None and entry_date <= day and (exit_date is None or day <= exit_date)
