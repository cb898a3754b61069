"""The month's sheet as a PDF (fpdf2): one table per week, a line per trainee, a column per
half-day with how and when each signed (or the absence), the trainer's countersignature of
each half-day, then each trainee's totals. Pure: data in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fpdf import FPDF

from attendance.domain.sheet import ABSENCE_REASONS, PERIOD_LABELS

DAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
METHODS = {"link": "lien", "qr": "QR code", "trainer": "formateur", "correction": "correction"}


@dataclass(frozen=True)
class Column:
    key: object
    day: date
    period: str
    starts_at: str
    ends_at: str
    hours: Decimal
    countersigned_by: str | None
    countersigned_at: datetime | None


@dataclass
class Line:
    name: str
    cells: dict = field(default_factory=dict)  # column key -> text
    totals: dict = field(default_factory=dict)


@dataclass
class SheetDocument:
    title: str
    organisation: str
    session_id: str
    month: str
    timezone: str
    columns: list[Column]
    lines: list[Line]
    closed: str | None


def _latin(text: str) -> str:
    """The PDF's core font is Latin-1: typographic characters outside it are replaced."""
    return text.replace("’", "'").replace("œ", "oe").replace("Œ", "OE").replace("–", "-").replace("—", "-").encode(
        "latin-1", "replace").decode("latin-1")


def cell_text(state: str, method: str | None, signed_at: datetime | None, timezone: str, late: int, early: int,
              reason: str | None) -> str:
    if state == "signed":
        text = f"Signé {signed_at.astimezone(ZoneInfo(timezone)):%H:%M} ({METHODS.get(method or '', method)})" if signed_at else "Signé"
        if late:
            text += f" retard {late} min"
        if early:
            text += f" départ -{early} min"
        return text
    if state == "absent_justified":
        return "Absent justifié : " + ABSENCE_REASONS.get(reason or "", reason or "").split(" (")[0]
    if state == "absent_unjustified":
        return "Absent"
    return "Non signé"


def _week_of(column: Column) -> tuple[int, int]:
    return column.day.isocalendar()[:2]


def render(sheet: SheetDocument) -> bytes:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_title(_latin(f"Feuille d'émargement {sheet.month}"))
    weeks: dict[tuple[int, int], list[Column]] = {}
    for column in sheet.columns:
        weeks.setdefault(_week_of(column), []).append(column)
    for columns in weeks.values() or [[]]:
        _week_page(pdf, sheet, columns)
    _totals_page(pdf, sheet)
    return bytes(pdf.output())


def _header(pdf: FPDF, sheet: SheetDocument, subtitle: str) -> None:
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin(f"Feuille d'émargement - {sheet.title} - {sheet.month}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, _latin(f"Organisme {sheet.organisation} - session {sheet.session_id} - {subtitle}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, _latin(sheet.closed or "Mois non validé par l'organisme"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _week_page(pdf: FPDF, sheet: SheetDocument, columns: list[Column]) -> None:
    subtitle = f"semaine du {columns[0].day:%d/%m/%Y}" if columns else "aucune demi-journée"
    _header(pdf, sheet, subtitle)
    width = (pdf.w - pdf.l_margin - pdf.r_margin - 50) / max(len(columns), 1)
    pdf.set_font("Helvetica", "B", 7)
    pdf.cell(50, 10, "Stagiaire", border=1)
    for column in columns:
        label = f"{DAYS[column.day.weekday()]} {column.day:%d/%m} {PERIOD_LABELS[column.period]}\n{column.starts_at}-{column.ends_at} ({column.hours} h)"
        x, y = pdf.get_x(), pdf.get_y()
        pdf.multi_cell(width, 5, _latin(label), border=1, align="C")
        pdf.set_xy(x + width, y)
    pdf.ln(10)
    pdf.set_font("Helvetica", "", 7)
    for line in sheet.lines:
        pdf.cell(50, 8, _latin(line.name), border=1)
        for column in columns:
            pdf.cell(width, 8, _latin(line.cells.get(column.key, "-")), border=1, align="C")
        pdf.ln(8)
    pdf.set_font("Helvetica", "I", 7)
    pdf.cell(50, 8, "Contresignature formateur", border=1)
    for column in columns:
        text = (f"{column.countersigned_by} {column.countersigned_at.astimezone(ZoneInfo(sheet.timezone)):%d/%m %H:%M}"
                if column.countersigned_by else "non contresignée")
        pdf.cell(width, 8, _latin(text), border=1, align="C")
    pdf.ln(8)


def _totals_page(pdf: FPDF, sheet: SheetDocument) -> None:
    _header(pdf, sheet, "totaux du mois")
    heads = ("Stagiaire", "Heures prévues", "Heures présentes", "Absences justifiées (h)", "Absences non justifiées (h)", "Demi-journées signées")
    widths = (70, 35, 35, 45, 50, 40)
    pdf.set_font("Helvetica", "B", 8)
    for head, width in zip(heads, widths, strict=True):
        pdf.cell(width, 7, _latin(head), border=1)
    pdf.ln(7)
    pdf.set_font("Helvetica", "", 8)
    for line in sheet.lines:
        values = (line.name, line.totals.get("planned_hours"), line.totals.get("attended_hours"), line.totals.get("justified_absence_hours"),
                  line.totals.get("unjustified_absence_hours"), f"{line.totals.get('signed_half_days')}/{line.totals.get('planned_half_days')}")
        for value, width in zip(values, widths, strict=True):
            pdf.cell(width, 7, _latin(str(value)), border=1)
        pdf.ln(7)
