"""The month's sheet as a PDF: rendered with poppler (pdftotext, pdftoppm) and read back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from datetime import date

import pytest

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext") or not shutil.which("pdftoppm"),
                                reason="poppler-utils missing (apt-get install poppler-utils; `pacte test` installs it as root)")


def pdftotext(pdf) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


async def test_the_sheet_pdf_shows_every_signature_absence_and_countersignature(attendance, tmp_path):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await a.plan(session_id)
    ines = await a.enter(session_id, date(2026, 11, 2), name=("Martin", "Inès"))
    hugo = await a.enter(session_id, date(2026, 11, 2), name=("Lefèvre", "Hugo"))
    for half_day in half_days:
        await a.sign_trainer(half_day, ines)
    for half_day in half_days[:5]:
        await a.sign_trainer(half_day, hugo)
    await a.client.post(f"/half-days/{half_days[5]['id']}/absences", headers=a.org, json={
        "dossier_id": str(hugo), "justified": True, "reason_code": "job_interview", "proof_reference": "convocation"})
    await a.client.post(f"/half-days/{half_days[0]['id']}/absences", headers=a.org, json={"dossier_id": str(ines), "absent": False, "late_minutes": 20})
    a.at("2026-11-12T17:00:00")  # a half-day is countersigned once it has started: the last one too
    for half_day in half_days:
        await a.client.post(f"/half-days/{half_day['id']}/countersignature", headers=a.org, json={"trainer": "Claire Martin"})
    a.at("2026-12-01T09:00:00")
    closed = await a.client.post(f"/sessions/{session_id}/months/2026-11/close", headers=a.org)
    assert closed.status_code == 201, closed.text

    response = await a.client.get(f"/sessions/{session_id}/sheets/2026-11.pdf", headers=a.region)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(response.content)
    text = await asyncio.to_thread(pdftotext, pdf)
    assert "Feuille d'émargement" in text and "2026-11" in text
    assert "MARTIN Inès" in text and "LEFÈVRE Hugo" in text
    assert "lun. 09/11 matin" in text and "jeu. 12/11 après-midi" in text
    assert text.count("Signé 09:00 (formateur)") >= 3 and "retard 20 min" in text
    assert "Absent justifié : Entretien d'embauche" in text
    assert text.count("Claire Martin") == 6 and "12/11 17:00" in text  # every half-day countersigned
    assert "Mois validé le 01/12/2026" in text
    assert "20.67" in text or "20.66" in text  # Inès: 21 h planned less 20 minutes late
    await asyncio.to_thread(subprocess.run, ["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 2  # the week, the totals
    assert all(page.stat().st_size > 5000 for page in pages)
