"""The trainee's signing page in headless Chromium, on a phone (390 × 844): French, no
JavaScript framework, nothing wider than the screen, no serious accessibility violation (axe).
And the room's screen (the console's QR page): its code, read off the screen, changes with the
rotation and signs."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from datetime import datetime, timedelta
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
        planned = await org.post(f"/sessions/{session}/schedule/pattern", json={
            "first_day": "2026-11-16", "last_day": "2026-11-16", "weekdays": {"mon": ["morning"]}, "place": "Saint-Nazaire",
            "trainer": "Paul Roux"})
        assert planned.status_code == 201, planned.text
        half_days = planned.json()["created"]

        async def known():
            return all([(await org.get(f"/sessions/{session}/passes/{t}")).status_code == 200 for t in trainees])

        await eventually(known, 60, message="attendance knows the trainees")
        suite.clock_file.write_text("2026-11-10T08:00:00+00:00")
        links = [(await org.post(f"/half-days/{half_days[0]['id']}/links", json={"dossier_id": t})).json()["url"] for t in trainees]
        bernard_pass = (await org.get(f"/sessions/{session}/passes/{trainees[1]}")).json()["token"]
        suite.clock_file.write_text("2026-11-16T08:05:00+00:00")  # 9:05 in Nantes
        return {"links": links, "base": suite.url("attendance"), "console": suite.url("console"), "half_day": half_days[0]["id"],
                "org_token": request_token(suite.issuer_settings.issuer_url, OrgKind.TRAINING_ORG.value, siret, ["attendance"]),
                "bernard_pass": bernard_pass, "clock_file": suite.clock_file}


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


def _read_qr(page) -> str:
    """The code as a phone's camera reads it: decoded from a screenshot of the screen."""
    import zxingcpp
    from PIL import Image

    shot = Image.open(io.BytesIO(page.get_by_test_id("room-qr").screenshot()))
    # the decoder may find one symbol twice (at two scales): what matters is one code on the screen
    found = {barcode.text for barcode in zxingcpp.read_barcodes(shot)}
    assert len(found) == 1, f"one readable QR code on the screen, found {len(found)}"
    return found.pop()


def _serious_violations(axe, page, attempts: int = 3) -> list[dict]:
    """axe-core's serious and critical findings; run again if the page reloaded itself (its QR
    rotation) during the audit: between the script's injection and its run (the injected script
    is lost) or while it ran (its execution context is destroyed)."""
    from playwright.sync_api import Error

    reloaded = ("axe is not defined", "Execution context was destroyed")
    for attempt in range(attempts):
        try:
            return [v for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
        except Error as exc:
            if not any(sign in str(exc) for sign in reloaded) or attempt == attempts - 1:
                raise
            page.wait_for_load_state()
    return []


def test_the_rooms_qr_code_changes_with_the_rotation_and_signs(phone, prepared):
    from axe_playwright_python.sync_playwright import Axe

    screen = phone.context.browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR").new_page()
    try:
        target = f"/attendance/half-days/{prepared['half_day']}/qr"
        screen.goto(f"{prepared['console']}/sign-in?next={target}")
        screen.fill("#token", prepared["org_token"])
        with screen.expect_navigation():
            screen.get_by_role("button", name="Sign in", exact=True).click()
        assert screen.locator("html").get_attribute("lang") == "fr"
        first = _read_qr(screen)
        assert first.startswith(f"{prepared['base']}/emargement/qr/")
        violations = _serious_violations(Axe(), screen)
        assert not violations, [(v["id"], v["help"]) for v in violations]
        assert not screen.evaluate(OVERFLOWING)

        # server time moves on by one rotation (the suite's short one); the page reloads by itself
        window_s, clock = int(os.environ["PACTE_ATTENDANCE_QR_WINDOW_S"]), prepared["clock_file"]
        clock.write_text((datetime.fromisoformat(clock.read_text()) + timedelta(seconds=window_s)).isoformat())
        # the page reloads every time its code's window ends: a reload begun before the clock moved
        # still shows the first code, so wait for the reload that shows the next one
        second, reloads = first, 0
        while second == first and reloads < 3:
            with screen.expect_navigation(timeout=(window_s + 10) * 1000):
                pass
            second, reloads = _read_qr(screen), reloads + 1
        assert second != first and second.startswith(f"{prepared['base']}/emargement/qr/")
    finally:
        screen.context.close()

    # Bernard's phone, which holds his pass, scans the new code and signs
    trainee = phone.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="fr-FR")
    try:
        trainee.add_cookies([{"name": "pacte_pass", "value": prepared["bernard_pass"], "url": prepared["base"]}])
        page = trainee.new_page()
        page.goto(second)
        page.get_by_label("Je certifie avoir été présent(e)").check()
        page.get_by_role("button", name="Je signe").click()
        assert "Votre signature est enregistrée" in page.get_by_role("status").inner_text()
    finally:
        trainee.close()
