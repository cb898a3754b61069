"""The one CSV writer: formula cells neutralised, numbers kept, lines never split."""

import csv
import io
from decimal import Decimal

from pacte_common.csv_export import CsvWriter, csv_text


def test_text_cells_that_a_spreadsheet_would_run_get_a_leading_quote():
    text = csv_text(
        ["code", "name", "amount"],
        [["=1+2", "@SUM(1+1)", Decimal("-297.50")], ["+33 1 23", "-cmd|' /C calc'!A0", -3],
         ["\tTAB", "\rCR", "-12.5"], ["T-44", "Nantes = ouest", None]],
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["'=1+2", "'@SUM(1+1)", "-297.50"]
    assert rows[2] == ["'+33 1 23", "'-cmd|' /C calc'!A0", "-3"]
    assert rows[3] == ["'\tTAB", "'\rCR", "-12.5"], "a negative number as text stays a number"
    assert rows[4] == ["T-44", "Nantes = ouest", ""], "only the first character counts"
    assert text.count("\r\n") == 5, "CRLF; the CR inside a cell is quoted, not a line end"


def test_the_delimiter_is_a_choice():
    writer = CsvWriter(delimiter=";")
    writer.writerow(["=x", 1])
    assert writer.text() == "'=x;1\r\n"
