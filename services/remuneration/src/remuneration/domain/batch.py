"""The paying agency's batch file (CSV): a fixed, documented column set and a totals line.

Separator `;`, decimal point `.`, UTF-8, one header line, one line per paid statement
(amount > 0) ordered by dossier id, then one `TOTAL` line whose amounts are the column sums.
Recoveries are written as negative amounts; `amount` is the sum of the component columns.

Formula injection: a text cell (names, ids, IBAN, NIR, regime, scale version: everything that is
not an amount) beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a
leading single quote (`'`), so that a spreadsheet shows it as text and never runs it (OWASP "CSV
injection"), by the suite's one CSV writer (`pacte_common.csv_export`). Amount columns are
numbers (`-297.50` is a recovery) and are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pacte_common.csv_export import CsvWriter

from remuneration.domain.formula import ComponentCode
from remuneration.domain.money import ZERO

COMPONENT_COLUMNS = tuple(code.value for code in ComponentCode)
BATCH_COLUMNS = (
    "batch_month",  # YYYY-MM of the run
    "statement_id",  # UUID of the statement (GET /statements/{id}); TOTAL on the last line
    "dossier_id",  # training file (dossier) UUID
    "person_id",  # pseudonymous beneficiary UUID
    "birth_name",
    "first_names",
    "nir",  # 15 characters, or empty when unknown
    "iban",
    "regime",  # region | unemployment_insurance
    "scale_version",  # code of the scale used, empty when none
    *COMPONENT_COLUMNS,
    "amount",  # the amount to pay: exact sum of the component columns
)


@dataclass(frozen=True)
class BatchLine:
    statement_id: str
    dossier_id: str
    person_id: str
    birth_name: str
    first_names: str
    nir: str
    iban: str
    regime: str
    scale_version: str
    components: dict[str, Decimal]
    amount: Decimal


def render_batch(month: str, lines: list[BatchLine]) -> str:
    writer = CsvWriter(delimiter=";")  # text cells neutralised (no formula), CRLF (RFC 4180)
    writer.writerow(BATCH_COLUMNS)
    totals = {code: ZERO for code in COMPONENT_COLUMNS}
    grand_total = ZERO
    for line in lines:
        for code in COMPONENT_COLUMNS:
            totals[code] += line.components.get(code, ZERO)
        grand_total += line.amount
        writer.writerow(
            [month, line.statement_id, line.dossier_id, line.person_id, line.birth_name, line.first_names, line.nir,
             line.iban, line.regime, line.scale_version,
             *(f"{line.components.get(code, ZERO):.2f}" for code in COMPONENT_COLUMNS), f"{line.amount:.2f}"]
        )
    writer.writerow(
        [month, "TOTAL", str(len(lines)), "", "", "", "", "", "", "",
         *(f"{totals[code]:.2f}" for code in COMPONENT_COLUMNS), f"{grand_total:.2f}"]
    )
    return writer.text()


# The repayment demand file (ordres de reversement): one line per debt a validated run opened.
DEMAND_COLUMNS = (
    "batch_month",  # YYYY-MM of the run whose validation opened the debt
    "debt_id",  # UUID of the debt (GET /debts/{id}; repayments are recorded against it); TOTAL on the last line
    "dossier_id",  # training file (dossier) UUID
    "person_id",  # pseudonymous beneficiary UUID
    "birth_name",
    "first_names",
    "nir",  # 15 characters, or empty when unknown (masked for the Region)
    "iban",  # the account pay went to (masked for the Region)
    "origin_months",  # months recomputed downwards, separated by spaces
    "amount",  # what is owed back
    "explanation",  # why: what changed, and why no later pay can offset it
)


@dataclass(frozen=True)
class DemandLine:
    debt_id: str
    dossier_id: str
    person_id: str
    birth_name: str
    first_names: str
    nir: str
    iban: str
    origin_months: tuple[str, ...]
    amount: Decimal
    explanation: str


def render_demands(month: str, lines: list[DemandLine]) -> str:
    writer = CsvWriter(delimiter=";")  # text cells neutralised (no formula), CRLF (RFC 4180)
    writer.writerow(DEMAND_COLUMNS)
    for line in lines:
        writer.writerow([month, line.debt_id, line.dossier_id, line.person_id, line.birth_name, line.first_names,
                         line.nir, line.iban, " ".join(line.origin_months), f"{line.amount:.2f}", line.explanation])
    total = sum((line.amount for line in lines), ZERO)
    writer.writerow([month, "TOTAL", str(len(lines)), "", "", "", "", "", "", f"{total:.2f}", ""])
    return writer.text()
