"""The one CSV writer of every export (services and console): cells a spreadsheet would read as
a formula are neutralised (CSV injection, OWASP): a text cell starting with `=`, `+`, `-`, `@`,
a tab or a CR gets a leading `'`. Numbers stay numbers, negative ones included, whether given
as numbers or as the plain decimal text the APIs use."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def neutralised(cell: str) -> str:
    """A text cell a spreadsheet will not read as a formula."""
    if cell.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralised(value)
    if isinstance(value, (bool, int, float)) or type(value).__name__ == "Decimal":
        return value
    return neutralised(str(value))  # dates, UUIDs, enums: written as their text


class CsvWriter:
    """`csv.writer` whose rows are neutralised; CRLF line ends (RFC 4180), so a cell holding a
    CR or LF is quoted and cannot split a line."""

    def __init__(self, delimiter: str = ","):
        self.buffer = io.StringIO()
        self._writer = csv.writer(self.buffer, delimiter=delimiter, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)

    def text(self) -> str:
        return self.buffer.getvalue()


def csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]], delimiter: str = ",") -> str:
    writer = CsvWriter(delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return writer.text()
