"""The trainee's signing page in headless Chromium, on a phone (390 × 844): French, no
JavaScript framework, nothing wider than the screen, no serious accessibility violation (axe)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import httpx
import pytest
from pacte_common.auth import OrgKind
from pacte_testing import eventually, new_siret
from pacte_tools.dev_issuer import request_token

CHROMIUM = Path(os.environ.get("PACTE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OVERFLOWING = "() => document.documentElement.scrollWidth > window.innerWidth + 1"


async def _prepare(suite) -> dict:
    siret = new_siret()

    def client(service, kind, org="region"):
        token = request_token(suite.issuer_settings.issuer_url, OrgKind(kind).value, org, [service])
        return httpx.AsyncClient(base_url=suite.url(service), headers={"Authorization": f"Bearer {token}"}, timeout=30)

    async with client("sessions", OrgKind.REGION) as region, client("sessions", OrgKind.TRAINING_ORG, siret) as org_sessions, \
            client("attendance", OrgKind.TRAINING_ORG, siret) as org:
        code = f"VISA-{uuid.uuid4().hex[:8]}"
        await region.post("/programmes", json={"code": code, "name": code, "pillar": "visa"})
        action = (await region.post("/actions", json={"programme_code": code, "organisation_siret": siret, "title": "Cuisinier",
                                                       "hours_in_centre": "420", "hourly_price": "12.50", "departement": "44"})).json()
        session = (await region.post("/sessions", json={"action_id": action["id"], "start_date": "2026-11-02", "end_date": "2027-02-26",
                                                         "places": 12})).json()["session_id"]
        trainees = []
        for name in ("Martin", "Bernard"):
            dossier = (await org_sessions.post("/dossiers", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                "session_id": session, "identity": {"birth_name": name, "first_names": "Inès"},
                "profile": {"sex": "F", "birth_date": "1995-03-10"}})).json()
            await org_sessions.post(f"/dossiers/{dossier['id']}/entry", json={"entry_date": "2026-11-02"})
            trainees.append(dossier["id"])
        half_days = (await org.post(f"/sessions/{session}/schedule/pattern", json={
            "first_day": "2026-11-16", "last_day": "2026-11-16", "weekdays": {"mon": ["morning"]}, "place": "Saint-Nazaire",
            "trainer": "Paul Roux"})).json()["created"]

        async def known():
            return all([(await org.get(f"/sessions/{session}/passes/{t}")).status_code == 200 for t in trainees])

        await eventually(known, 60, message="attendance knows the trainees")
        suite.clock_file.write_text("2026-11-10T08:00:00+00:00")
        links = [(await org.post(f"/half-days/{half_days[0]['id']}/links", json={"dossier_id": t})).json()["url"] for t in trainees]
        suite.clock_file.write_text("2026-11-16T08:05:00+00:00")  # 9:05 in Nantes
        return {"links": links, "base": suite.url("attendance")}


@pytest.fixture(scope="module")
def prepared(attendance_suite):
    return asyncio.run(_prepare(attendance_suite))


@pytest.fixture(scope="module")
def phone(prepared):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM} (apt-get install chromium, which `./pacte test` does as root)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="fr-FR")
            yield context.new_page()
        finally:
            browser.close()


def test_a_trainee_signs_from_a_phone_with_a_personal_link(phone, prepared):
    from axe_playwright_python.sync_playwright import Axe

    page = phone
    page.goto(prepared["links"][0])
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("script").count() == 0, "no JavaScript on the signing page"
    assert "MARTIN Inès" in page.inner_text("main") and "lundi 16 novembre 2026, matin" in page.inner_text("main")
    assert not page.evaluate(OVERFLOWING)
    violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
    assert not violations, [(v["id"], v["help"]) for v in violations]

    page.get_by_role("button", name="Je signe").click()
    assert page.url == prepared["links"][0], "the required consent box stops the form"
    page.get_by_label("Je certifie avoir été présent(e)").check()
    page.get_by_role("button", name="Je signe").click()
    assert "Votre signature est enregistrée à 09:05" in page.get_by_role("status").inner_text()
    assert not Axe().run(page).response["violations"] or all(v["impact"] not in ("serious", "critical") for v in Axe().run(page).response["violations"])

    page.goto(prepared["links"][0])  # the same link again: the same answer
    assert "Vous aviez déjà signé" in page.get_by_role("status").inner_text()


def test_a_foreign_or_broken_link_says_so_in_french(phone, prepared):
    page = phone
    page.goto(prepared["links"][1][:-4] + "abcd")
    assert "Signature impossible" in page.inner_text("h1")
    assert page.get_by_role("alert").is_visible()
    assert not page.evaluate(OVERFLOWING)
