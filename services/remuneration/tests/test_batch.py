"""The paying agency's CSV never carries a formula a spreadsheet would run (CSV injection)."""

import csv
import io
from datetime import date
from decimal import Decimal as D

import pytest
from pacte_testing.remuneration import FileSpec
from remuneration.domain.batch import BATCH_COLUMNS, BatchLine, render_batch


def line(**names) -> BatchLine:
    return BatchLine(statement_id="s1", dossier_id="d1", person_id="p1", birth_name=names.get("birth_name", "MARTIN"),
                     first_names=names.get("first_names", "Alex"), nir="", iban="FR7630006000011234567890189",
                     regime="region", scale_version="2021-05",
                     components={"public_remuneration": D("700.00"), "advance_recovery": D("-297.50")},
                     amount=D("402.50"))


@pytest.mark.parametrize("dangerous", ["=HYPERLINK(\"http://evil\",\"x\")", "+33 6", "-2+3", "@SUM(A1)", "\tTAB",
                                       "\rCR"])
def test_a_text_cell_that_could_run_as_a_formula_is_written_as_text(dangerous):
    text = render_batch("2021-06", [line(birth_name=dangerous, first_names=dangerous)])
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[0]["birth_name"] == "'" + dangerous and rows[0]["first_names"] == "'" + dangerous


def test_amounts_stay_numbers_and_plain_names_are_untouched():
    rows = list(csv.DictReader(io.StringIO(render_batch("2021-06", [line(birth_name="D'ARC")])), delimiter=";"))
    assert rows[0]["birth_name"] == "D'ARC" and rows[0]["advance_recovery"] == "-297.50"
    assert rows[0]["amount"] == "402.50" and rows[1]["amount"] == "402.50"  # the TOTAL line
    assert tuple(rows[0]) == BATCH_COLUMNS


async def test_the_batch_file_downloaded_neutralises_names_given_by_a_partner(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol(FileSpec(birth_name="=1+1", first_names="@cmd|' /C calc'!A0"))
    await r.sessions.enter(dossier, date(2021, 6, 1))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    assert (await r.request(dossier)).status_code == 201
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-06")
    await r.run("2021-06")
    await r.validate("2021-06")
    batch = await r.client.get("/batches/2021-06", headers=r.agency)
    rows = list(csv.DictReader(io.StringIO(batch.text), delimiter=";"))
    assert rows[0]["birth_name"] == "'=1+1" and rows[0]["first_names"] == "'@cmd|' /C calc'!A0"
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
