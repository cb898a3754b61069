"""The operators' console in a real headless Chromium (docs/console.md), on the suite loaded with the
journeys of conftest.py:

| file | organisation | sex, age at entry | entry | exit | AGORA |
| a1 | A (VISA, 44, 12 places) | F, 31 | 2026-09-01 | 2026-11-30 completed, certification obtained | entry rejected once |
| a2 | A | M, 24 | 2026-10-05 | — | sent |
| a3 | A (enrolled directly, no NIR) | F, 38 | 2026-10-01 | — | waits for the NIR |
| b1 | B (health-social, 85, 10 places) | M, 56 | 2026-09-07 | 2026-10-15 dropout for a job | outside the perimeter |

Session A is in the test territory T-TEST-44 (its action names it); session B has no territory.
Two ANOTEA reviews of session A are imported (overall 4.5 and 3.5), and one of an unknown session.

Tests run in this file's order: the retry and the validation change the suite's state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse
from zoneinfo import ZoneInfo

import httpx
from pacte_common.auth import OrgKind
from pacte_common.bus import new_producer
from pacte_common.events import Topics
from pacte_common.settings import BusSettings

PERIOD = "from=2026-09-01&to=2026-12-31"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
DEADLINE = 60.0


def shot(page, name: str) -> None:
    """Saves a screenshot for the docs (docs/screenshots/), overwritten by each run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in_as_region(page, loaded, target: str = "/indicators") -> None:
    """Signs in with a Region token pasted in the form (the dev button is tested on its own)."""
    sign_in_with(page, loaded, loaded.token(OrgKind.REGION), target)
    assert page.get_by_test_id("who").count() == 1, page.locator("main").inner_text()
    assert page.get_by_test_id("who").inner_text() == "Région Pays de la Loire"


def sign_in_with(page, loaded, bearer: str, target: str = "/indicators") -> None:
    page.goto(f"{loaded.console}/sign-in?{urlencode({'next': target})}")
    page.fill("#token", bearer)
    navigate(page, page.get_by_role("button", name="Sign in", exact=True))


def navigate(page, target) -> None:
    """Clicks a link or a form's button and waits for the page it leads to."""
    with page.expect_navigation():
        target.click()


def table(page, figure_id: str) -> dict[str, list[str]]:
    """A figure's table: row label → the other cells' texts."""
    rows = page.locator(f"#{figure_id} tbody tr")
    found = {}
    for index in range(rows.count()):
        cells = [c.strip() for c in rows.nth(index).locator("th, td").all_inner_texts()]
        found[cells[0]] = cells[1:]
    return found


def assert_chart_drawn(page, figure_id: str) -> None:
    chart = page.locator(f"#{figure_id} .chart svg")
    assert chart.count() == 1, f"{figure_id}: no SVG chart"
    assert chart.locator("rect.rect").count() >= 1, f"{figure_id}: the chart has no bar"
    box = chart.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50, f"{figure_id}: the chart is not visible"


def test_pages_need_a_sign_in_and_the_dev_button_signs_in_as_the_region(page, loaded):
    response = page.goto(f"{loaded.console}/indicators?{PERIOD}")
    assert urlparse(page.url).path == "/sign-in" and response.status == 200
    assert parse_qs(urlparse(page.url).query)["next"] == [f"/indicators?{PERIOD}"]
    shot(page, "sign-in")
    navigate(page, page.get_by_role("button", name="Sign in as the Region"))
    assert page.get_by_test_id("who").count() == 1, page.locator("main").inner_text()
    assert page.url.endswith(f"/indicators?{PERIOD}"), "back where the operator was going"
    assert page.get_by_test_id("who").inner_text() == "Région Pays de la Loire"
    cookie = next(c for c in page.context.cookies() if c["name"] == "pacte_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    navigate(page, page.get_by_role("button", name="Sign out"))
    page.goto(f"{loaded.console}/pay")
    assert urlparse(page.url).path == "/sign-in", "signed out: the token is gone"
    # The cookie saved before signing out, put back by hand, opens nothing: the session ended server-side.
    page.context.add_cookies([cookie])
    page.goto(f"{loaded.console}/pay")
    assert urlparse(page.url).path == "/sign-in", "a replayed cookie is no session"


def test_indicators_are_drawn_with_their_tables_and_follow_the_filters(page, loaded):
    sign_in_as_region(page, loaded, f"/indicators?{PERIOD}")
    for figure_id in ("entries-by-month", "entries-by-sex", "entries-by-age", "entries-by-level", "entries-by-public",
                      "places", "exits", "certification", "prepa-to-visa"):
        assert_chart_drawn(page, figure_id)
    months = table(page, "entries-by-month")
    assert list(months) == ["2026-09", "2026-10", "2026-11", "2026-12"]
    assert months["2026-09"] == ["1", "1", "2"] and months["2026-10"] == ["1", "1", "2"] and months["2026-11"] == ["0", "0", "0"]
    assert table(page, "entries-by-sex") == {"women": ["2", "50.0"], "men": ["2", "50.0"]}
    assert table(page, "entries-by-age") == {"under 26": ["1", "25.0"], "26 to 49": ["2", "50.0"], "50 and over": ["1", "25.0"]}
    # level V (a1), level IV (a3, b1): three of four at level IV and below
    assert table(page, "entries-by-level")["level IV and below"] == ["3", "75.0"]
    assert table(page, "places") == {"offered": ["22"], "taken": ["4"]}
    assert table(page, "exits") == {"completed": ["1"], "dropout for a job": ["1"], "dropout for another reason": ["0"]}
    assert table(page, "certification") == {"obtained": ["1"], "partial or failed": ["0"]}
    every = table(page, "all-indicators")
    assert every["Dropouts / exits"][:3] == ["50.0 %", "1", "2"]  # shares and rates read as percentages
    # the result indicators, everyone then by sex, each row with its respondents and response rate:
    # no survey answer in these journeys, so no share is shown and every base is low
    results = table(page, "results")
    assert list(results) == ["Everyone (low base)", "Women (low base)", "Men (low base)"], results
    assert all(cells[:4] == ["", "", "", "0"] for cells in results.values()), results
    shot(page, "indicators")

    # a filter is a URL parameter: the Vendée (85) holds b1 only
    page.fill("input[name=departement]", "85")
    navigate(page, page.get_by_role("button", name="Apply"))
    assert parse_qs(urlparse(page.url).query)["departement"] == ["85"]
    assert table(page, "entries-by-sex") == {"women": ["0", "0.0"], "men": ["1", "100.0"]}
    assert table(page, "places") == {"offered": ["10"], "taken": ["1"]}
    # the programme list applies on change (progressive enhancement)
    page.fill("input[name=departement]", "")
    page.select_option("select[name=programme]", loaded.programme_a)
    page.wait_for_url(lambda url: parse_qs(urlparse(url).query).get("programme") == [loaded.programme_a])
    assert parse_qs(urlparse(page.url).query)["programme"] == [loaded.programme_a]
    assert table(page, "entries-by-sex") == {"women": ["2", "66.7"], "men": ["1", "33.3"]}


def test_each_figure_downloads_as_csv(page, loaded):
    sign_in_as_region(page, loaded, f"/indicators?{PERIOD}")
    with page.expect_download() as info:
        page.get_by_test_id("csv-entries-by-age").click()
    download = info.value
    assert download.suggested_filename == "entries-by-age.csv"
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows == [["age band", "entries", "share (%)"], ["under 26", "1", "25.0"], ["26 to 49", "2", "50.0"], ["50 and over", "1", "25.0"]]
    with page.expect_download() as info:
        page.get_by_test_id("csv-service").click()
    service_rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    entries = {row["scope"]: row["numerator"] for row in service_rows if row["indicator"] == "entries"}
    assert entries == {"all": "4", "sex:F": "2", "sex:M": "2"}


def test_a_training_organisation_sees_only_its_own_data(page, loaded):
    sign_in_with(page, loaded, loaded.token(OrgKind.TRAINING_ORG, loaded.org_b))
    page.goto(f"{loaded.console}/indicators?{PERIOD}")
    assert page.get_by_test_id("who").inner_text() == f"training_org {loaded.org_b}"
    assert table(page, "entries-by-sex") == {"women": ["0", "0.0"], "men": ["1", "100.0"]}
    assert table(page, "places") == {"offered": ["10"], "taken": ["1"]}
    assert page.locator("input[name=organisation]").count() == 0, "no organisation to choose"
    # asking for another organisation's figures: the sessions service says no
    response = page.goto(f"{loaded.console}/indicators?{PERIOD}&organisation={loaded.org_a}")
    assert response.status == 200  # the console fixes the organisation to the token's own
    assert table(page, "entries-by-sex")["men"] == ["1", "100.0"]
    for path in ("/agora", "/pay?from=2026-09&to=2026-09", "/bus", f"/skills?person_id={loaded.person_a1}", "/imports"):
        response = page.goto(f"{loaded.console}{path}")
        assert response.status == 403, path
        assert page.get_by_test_id("error").is_visible()
    shot(page, "training-organisation-refused")


def test_agora_shows_rejected_and_waiting_flows_and_retries_a_rejected_one(page, loaded):
    sign_in_as_region(page, loaded, "/agora")
    assert_chart_drawn(page, "flows-by-state")
    assert_chart_drawn(page, "flows-over-time")
    assert int(table(page, "flows-by-state")["rejected"][0]) == 1
    rejected = page.locator("#rejected tbody tr", has_text=loaded.rejected_dossier)
    assert rejected.count() == 1 and "E-ENTRY-DATE" in rejected.inner_text()
    waiting = page.locator("#waiting tbody")
    assert "waiting for the trainee's NIR" in waiting.locator("tr", has_text=loaded.waiting_dossier).first.inner_text()
    assert "outside the perimeter" in waiting.locator("tr", has_text=loaded.excluded_dossier).first.inner_text()
    shot(page, "agora")

    navigate(page, rejected.get_by_role("button", name="Retry"))
    assert "will be sent again" in page.locator(".flash").first.inner_text()
    assert page.locator("#rejected tbody tr", has_text=loaded.rejected_dossier).count() == 0
    # the gateway sends it again and AGORA takes it this time
    with httpx.Client(base_url=loaded.suite.url("agora-gateway"), headers={"Authorization": f"Bearer {loaded.token(OrgKind.REGION)}"}) as gateway:
        def entry_status() -> str:
            flows = gateway.get(f"/dossiers/{loaded.rejected_dossier}").json()["flows"]
            return next(f["status"] for f in flows if f["operation"] == "enter")

        wait_until(lambda: entry_status() == "acknowledged", "the retried entry acknowledged")


def test_france_travail_page_shows_certificates_by_state_and_files_waiting_for_an_identifier(page, loaded):
    sign_in_as_region(page, loaded, "/agora")
    navigate(page, page.get_by_role("link", name="France Travail").last)
    assert page.locator("h1").inner_text() == "France Travail certificates"
    assert_chart_drawn(page, "ft-flows-by-state")
    # the loaded people came without a France Travail identifier: their certificates wait, listed
    assert int(table(page, "ft-flows-by-state")["pending"][0]) >= 1
    waiting = page.locator("#ft-waiting tbody")
    assert waiting.locator("tr", has_text=loaded.waiting_dossier).count() >= 1
    assert "None." in page.locator("#ft-rejected").inner_text()


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_pay_month_is_computed_validated_after_a_confirmation_and_its_file_downloads(page, loaded):
    sign_in_as_region(page, loaded, "/pay?from=2026-08&to=2026-10")
    september = page.locator("tr[data-month='2026-09']")
    assert september.get_by_test_id("state").inner_text() == "not computed"
    navigate(page, september.get_by_role("button", name="Compute"))
    assert "Run 2026-09 computed" in page.locator(".flash").first.inner_text()
    september = page.locator("tr[data-month='2026-09']")
    # a1: 31 on the 1st of the month → 685.00 + Region top-up 15.00, full month → 700.00
    assert Decimal(september.get_by_test_id("total").inner_text()) == Decimal("700.00")
    assert_chart_drawn(page, "pay-totals")
    shot(page, "pay")

    navigate(page, september.get_by_role("link", name="Validate…"))
    assert page.get_by_test_id("confirm-total").inner_text() == "700.00 €"
    shot(page, "pay-confirm")
    navigate(page, page.get_by_role("button", name="Validate 2026-09: 700.00 €"))
    assert "Run 2026-09 validated" in page.locator(".flash").first.inner_text()
    assert parse_qs(urlparse(page.url).query) == {"from": ["2026-08"], "to": ["2026-10"]}, "back on the same view"
    september = page.locator("tr[data-month='2026-09']")
    assert september.get_by_test_id("state").inner_text().lower().startswith("valid")
    with page.expect_download() as info:
        september.get_by_test_id("batch-2026-09").click()
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read()), delimiter=";"))
    ours = [row for row in rows if row["dossier_id"] == loaded.rejected_dossier]
    assert len(ours) == 1 and Decimal(ours[0]["amount"]) == Decimal("700.00")


def test_bus_health_shows_each_service(page, loaded):
    sign_in_as_region(page, loaded, "/bus")
    assert_chart_drawn(page, "bus-backlog")
    for service in ("orientation", "sessions", "remuneration", "agora-gateway"):
        section = page.locator(f"section[data-service='{service}']")
        assert section.get_by_test_id("state").inner_text() in ("ok", "degraded")
        assert section.get_by_test_id("outbox").inner_text().isdigit()
        assert section.get_by_test_id("dlq").inner_text().isdigit()
    shot(page, "bus")


def test_state_changing_forms_without_their_csrf_token_are_refused(page, loaded):
    sign_in_as_region(page, loaded, "/pay?from=2026-10&to=2026-10")
    october = page.locator("tr[data-month='2026-10']")
    assert october.get_by_test_id("state").inner_text() == "not computed"
    # the same form, posted with the session cookie but without (or with a wrong) CSRF token
    for form in ({"month": "2026-10"}, {"month": "2026-10", "csrf_token": "forged"}):
        response = page.request.post(f"{loaded.console}/pay/runs", form=form, max_redirects=0)
        assert response.status == 403 and "CSRF" in response.text()
    response = page.request.post(f"{loaded.console}/agora/flows/{loaded.rejected_dossier}/retry", form={}, max_redirects=0)
    assert response.status == 403
    response = page.request.post(f"{loaded.console}/sign-in/dev", form={}, max_redirects=0)
    assert response.status == 403, "no login CSRF either"
    response = page.request.post(f"{loaded.console}/bus/dead-letters/replay", form={"service": "remuneration", "topic": "x.dlq.y"}, max_redirects=0)
    assert response.status == 403 and "CSRF" in response.text(), "the dead-letter replay needs its token too"
    page.reload()
    assert page.locator("tr[data-month='2026-10']").get_by_test_id("state").inner_text() == "not computed", "nothing was computed"
    # and the page's own form, with its token, goes through
    navigate(page, page.locator("tr[data-month='2026-10']").get_by_role("button", name="Compute"))
    assert "Run 2026-10 computed" in page.locator(".flash").first.inner_text()


def test_territory_filter_comparison_and_satisfaction(page, loaded):
    sign_in_as_region(page, loaded, f"/indicators?{PERIOD}&compare=territory")
    assert_chart_drawn(page, "satisfaction")
    marks = table(page, "satisfaction")
    # two ANOTEA reviews of session A: overall 4.5 and 3.5, welcome 5 and 4
    assert marks["Overall (note globale)"] == ["4.0", "2"] and marks["Welcome (accueil)"] == ["4.5", "2"]
    assert_chart_drawn(page, "compare-territory")
    compared = table(page, "compare-territory")
    assert compared["T-TEST-44"][:2] == ["3", "1"] and compared["T-TEST-44"][5:] == ["2", "4.0"]
    assert compared["(none)"][0] == "1"  # b1: its action names no territory
    shot(page, "indicators-territories")

    # the territory list is the current version of the Region's table; choosing one filters every figure
    page.select_option("select[name=territory]", "T-TEST-44")
    page.wait_for_url(lambda url: parse_qs(urlparse(url).query).get("territory") == ["T-TEST-44"])
    assert table(page, "entries-by-sex") == {"women": ["2", "66.7"], "men": ["1", "33.3"]}
    assert table(page, "places") == {"offered": ["12"], "taken": ["3"]}
    page.goto(f"{loaded.console}/indicators?{PERIOD}&territory=T-TEST-85")
    assert table(page, "entries-by-sex") == {"women": ["0", ""], "men": ["0", ""]}
    assert table(page, "satisfaction")["Overall (note globale)"] == ["", "0"]
    page.goto(f"{loaded.console}/indicators?{PERIOD}&compare=departement")
    assert {k: v[0] for k, v in table(page, "compare-departement").items()} == {"44": "3", "85": "1"}
    assert page.get_by_test_id("no-territories").count() == 0

    # a version that lists no territory (as the shipped file): the comparison falls back to départements, and says so
    with httpx.Client(base_url=loaded.suite.url("sessions"), headers={"Authorization": f"Bearer {loaded.token(OrgKind.REGION)}"}) as sessions:
        published = sessions.put("/territories", json={"source": "console test: no territory", "territories": []})
        assert published.status_code == 201, published.text
    page.goto(f"{loaded.console}/indicators?{PERIOD}&compare=territory")
    assert "by département instead" in page.get_by_test_id("no-territories").inner_text()
    assert page.locator("#compare-territory").count() == 0
    assert {k: v[0] for k, v in table(page, "compare-departement").items()} == {"44": "3", "85": "1"}


def test_skills_passport_of_a_person(page, loaded):
    sign_in_as_region(page, loaded, f"/skills?person_id={loaded.person_a1}")
    assert page.locator("#certifications [data-testid=result]").all_inner_texts() == ["obtained"]
    assert page.get_by_test_id("prescriber").inner_text() == "PE-44001"
    shot(page, "skills")
    response = page.goto(f"{loaded.console}/skills?person_id={uuid.uuid4()}")
    assert response.status == 404 and "No such person" in page.locator("main").inner_text()
    assert page.goto(f"{loaded.console}/skills?person_id=not-a-uuid").status == 422


def test_the_region_finds_a_person_by_name_and_birth_date(page, loaded):
    from axe_playwright_python.sync_playwright import Axe

    sign_in_as_region(page, loaded, "/persons")
    page.get_by_label("Last name").fill("durà")  # the beginning of Durand, accents and case aside
    page.get_by_label("Birth date").fill("1995-03-10")  # a1's
    navigate(page, page.get_by_role("button", name="Search", exact=True))
    assert "?" not in page.url, "the criteria are never in the URL"
    row = page.locator(f"#persons tr[data-person='{loaded.person_a1}']")
    assert row.count() == 1 and row.get_by_test_id("person-name").inner_text() == "Durand"
    nir = row.get_by_test_id("nir").inner_text()
    assert len(nir) == 15 and nir[1:13] == "*" * 12
    assert row.get_by_test_id("prescription").count() == 1 and loaded.org_a in row.get_by_test_id("prescription").inner_text()
    assert row.get_by_role("link", name="Skills passport").get_attribute("href") == f"/skills?person_id={loaded.person_a1}"
    found = []
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        found += [f"{width}px: {problem}" for problem in page.evaluate(OVERFLOWING)]
        found += [f"{width}px: axe {v['id']}: {v['help']}" for v in Axe().run(page).response["violations"]
                  if v["impact"] in ("serious", "critical")]
    page.set_viewport_size({"width": 1400, "height": 1000})
    assert not found, "\n".join(found)
    page.get_by_label("Birth date").fill("1995-03-11")
    navigate(page, page.get_by_role("button", name="Search", exact=True))
    assert "Nobody with this name and birth date" in page.locator("#persons").inner_text()
    # a training organisation may not search
    page.context.clear_cookies()
    sign_in_with(page, loaded, loaded.token(OrgKind.TRAINING_ORG, loaded.org_a), "/persons")
    assert "Reserved to the Region" in page.locator("main").inner_text()


def _at(loaded, local: str) -> None:
    """Attendance's server time from now on (its development clock file), a Paris local instant."""
    moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Paris"))
    loaded.suite.clock_file.write_text(moment.astimezone(UTC).isoformat())


def _seed_attendance(loaded) -> None:
    """Session A's sheets, by organisation A through the attendance API: 19 October (a1, a2, a3 sign,
    countersigned: the month waits for validation); 9 and 10 November, mornings and afternoons: on the
    9th morning a1 signs, a2 is absent (sickness), a3 does not sign, countersigned; on the 10th morning
    a2 and a3 sign their links from one phone (a shared_device flag); then it is the 10th, 18:00."""
    a1, a2, a3 = (loaded.files[k] for k in ("a1", "a2", "a3"))
    org = {"Authorization": f"Bearer {loaded.token(OrgKind.TRAINING_ORG, loaded.org_a)}"}
    with httpx.Client(base_url=loaded.suite.url("attendance"), headers=org, timeout=30) as att:
        wait_until(lambda: all(att.get(f"/sessions/{loaded.session_a}/passes/{d}").status_code == 200 for d in (a1, a2, a3)),
                   "the trainees reached attendance")

        def plan(first, last, periods) -> list[dict]:
            response = att.post(f"/sessions/{loaded.session_a}/schedule/pattern", json={
                "first_day": first, "last_day": last, "weekdays": {d: periods for d in ("mon", "tue")}, "trainer": "Claire Martin"})
            assert response.status_code == 201, response.text
            return sorted(response.json()["created"], key=lambda h: (h["day"], h["starts_at"]))

        def sign(half_day, dossier):
            _at(loaded, f"{half_day['day']}T{half_day['starts_at']}")
            assert att.post(f"/half-days/{half_day['id']}/signatures", json={"dossier_id": dossier, "consent": True}).status_code == 201

        october, = plan("2026-10-19", "2026-10-19", ["morning"])
        for dossier in (a1, a2, a3):
            sign(october, dossier)
        week = plan("2026-11-09", "2026-11-10", ["morning", "afternoon"])
        sign(week[0], a1)
        assert att.post(f"/half-days/{week[0]['id']}/absences", json={"dossier_id": a2, "justified": True, "reason_code": "sickness",
                                                                       "proof_reference": "arrêt 2026-11-09"}).status_code == 201
        for half_day in (october, week[0]):
            assert att.post(f"/half-days/{half_day['id']}/countersignature", json={"trainer": "Claire Martin"}).status_code == 201
        _at(loaded, f"{week[2]['day']}T{week[2]['starts_at']}")
        for dossier in (a2, a3):
            token = att.post(f"/half-days/{week[2]['id']}/links", json={"dossier_id": dossier}).json()["token"]
            signed = att.post("/signatures/link", json={"token": token, "half_day_id": week[2]["id"], "dossier_id": dossier, "consent": True})
            assert signed.status_code == 201, signed.text
    _at(loaded, "2026-11-10T18:00:00")


def test_attendance_sheets_of_a_week_flags_and_a_month_waiting_for_validation(page, loaded):
    _seed_attendance(loaded)
    sign_in_as_region(page, loaded, "/attendance?week=2026-11-10")
    assert page.locator("h1").inner_text() == "Émargement — semaine du 09/11/2026 au 15/11/2026"
    sheet = page.locator(f".sheet[data-session='{loaded.session_a}'] tbody tr")
    counted = [[c.strip() for c in sheet.nth(i).locator("th, td").all_inner_texts()] for i in range(sheet.count())]
    assert [row[0] for row in counted] == ["lun. 09/11/2026 matin", "lun. 09/11/2026 après-midi",
                                           "mar. 10/11/2026 matin", "mar. 10/11/2026 après-midi"]
    # trainees, signed, absent, unsigned, countersigned
    assert [row[2:] for row in counted] == [["3", "1", "1", "1", "oui"], ["3", "0", "0", "3", "non"],
                                            ["3", "2", "0", "1", "non"], ["3", "0", "0", "3", "non"]]
    assert page.locator("#attendance-unsigned tbody tr").count() == 4
    assert page.locator("#attendance-flags [data-testid=flag-kind]").all_inner_texts() == ["Un appareil pour plusieurs stagiaires"]
    waiting = page.locator("#attendance-waiting tbody tr")
    assert waiting.count() == 1 and "2026-10" in waiting.inner_text()
    shot(page, "attendance")
    pdf = page.request.get(loaded.console + waiting.get_by_test_id("waiting-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    # the week before: nothing planned, October still waits
    navigate(page, page.get_by_role("link", name="Semaine précédente"))
    assert page.locator(".sheet tbody tr").count() == 0 and page.locator("#attendance-waiting tbody tr").count() == 1


def _poison(loaded) -> None:
    """An undecodable message on the trainees topic: every consumer of it dead-letters it."""
    bus = BusSettings(bootstrap_servers=loaded.suite.bootstrap, topic_namespace=loaded.suite.settings.topic_namespace)

    async def send():
        producer = new_producer(bus)
        await producer.start()
        try:
            await producer.send_and_wait(bus.topic_namespace + Topics.TRAINEES, value=b"\x00 not a CloudEvent {", key=b"console-poison")
        finally:
            await producer.stop()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        pool.submit(asyncio.run, send()).result()


def test_a_dead_letter_topic_is_replayed_from_the_bus_page(page, loaded):
    _poison(loaded)
    sign_in_as_region(page, loaded, "/bus")
    button = page.locator("button[data-testid^='replay-']")
    deadline = time.monotonic() + DEADLINE
    while button.count() == 0:
        assert time.monotonic() < deadline, "no dead letter shown on the bus page"
        time.sleep(1)
        page.reload()
    topic = button.first.get_attribute("data-testid").removeprefix("replay-")
    errors = page.get_by_test_id(f"errors-{topic}")
    assert "undecodable" in errors.inner_text() and "not a CloudEvent" not in errors.inner_text(), \
        "the last error is shown, the message's content is not"
    shot(page, "bus-dead-letters")
    page.get_by_test_id(f"limit-{topic}").fill("1")  # only the oldest one
    navigate(page, button.first)
    flash = page.locator(".flash").first.inner_text()
    # the poison message goes back to its topic once and fails again: the replay ends and says so
    assert flash.startswith(f"{topic}: replayed 1, failed again 1"), flash


def test_money_owed_back_is_a_debt_the_region_can_write_off(page, loaded):
    """a1's September, paid 700.00, is corrected to a month of unjustified absence; her training ends on
    2026-11-30 with nothing left to offset it: the run of 2026-11 makes the 700.00 a debt."""
    a1, region = loaded.rejected_dossier, {"Authorization": f"Bearer {loaded.token(OrgKind.REGION)}"}
    org = {"Authorization": f"Bearer {loaded.token(OrgKind.TRAINING_ORG, loaded.org_a)}"}
    with httpx.Client(base_url=loaded.suite.url("sessions"), headers=org) as sessions, \
            httpx.Client(base_url=loaded.suite.url("remuneration"), headers=region, timeout=30) as pay:
        corrected = sessions.put(f"/dossiers/{a1}/attendance/2026-09", json={
            "planned_hours": "140", "attended_hours": "0", "justified_absence_hours": "0",
            "unjustified_absence_hours": "140", "in_company_hours": "0"})
        assert corrected.status_code in (200, 201), corrected.text
        deadline = time.monotonic() + DEADLINE
        while pay.get(f"/files/{a1}").json()["attendance_versions"].get("2026-09") != 2:
            assert time.monotonic() < deadline, "the corrected attendance did not reach remuneration"
            time.sleep(0.2)
        for month in ("2026-10", "2026-11"):
            assert pay.post("/runs", json={"month": month}).status_code == 201
            assert pay.post(f"/runs/{month}/validate").status_code == 200

    sign_in_as_region(page, loaded, "/debts")
    row = page.locator("#debts tbody tr")
    assert row.count() == 1 and row.get_by_test_id("debt-balance").inner_text() == "700.00"
    assert "2026-09" in row.inner_text() and "exit on 2026-11-30" in row.inner_text()
    assert "1 debt(s) still owed, 700.00 €" in page.get_by_test_id("debt-totals").inner_text()
    shot(page, "debts")
    row.get_by_label("Reason").fill("trainee deceased")
    navigate(page, row.get_by_role("button", name="Write off"))
    assert "written off: 700.00 €" in page.locator(".flash").first.inner_text()
    row = page.locator("#debts tbody tr")
    assert row.get_by_test_id("debt-state").inner_text().startswith("Admis en non-valeur")
    assert row.get_by_test_id("debt-balance").inner_text() == "0.00" and "trainee deceased" in row.inner_text()


def test_imports_forward_a_file_show_its_report_and_start_a_backfill_whose_progress_shows(page, loaded, tmp_path):
    def review(session: str) -> dict:
        return {"id": f"rv-{uuid.uuid4().hex[:8]}", "date": "2026-12-02T10:00:00Z",
                "notes": {n: 4 for n in ("accueil", "contenu_formation", "equipe_formateurs", "moyen_materiel", "accompagnement", "global")},
                "formation": {"action": {"organisme_formateur": {"siret": loaded.org_a}, "session": {"numero": session}}}}

    reviews = tmp_path / "avis.json"
    reviews.write_text(json.dumps({"avis": [review(loaded.session_a), review("SE-UNKNOWN-2")]}))
    sign_in_as_region(page, loaded, "/imports")
    page.locator("#import-anotea input[type=file]").set_input_files(str(reviews))
    navigate(page, page.locator("#import-anotea").get_by_role("button", name="Import"))
    report = page.locator("#report")
    assert report.get_by_test_id("report-outcome").inner_text().startswith("Imported"), report.inner_text()
    counts = {row.locator("th").inner_text(): row.locator("td").inner_text() for row in report.locator("table.counts tbody tr").all()}
    assert (counts["received"], counts["created"], counts["unknown session"]) == ("2", "1", "1")
    assert report.locator("table.rejections tbody tr").count() == 1
    shot(page, "imports")

    export = tmp_path / "export.ndjson"
    export.write_text('{"dossier_id": "not json\n')  # one unreadable line: the job reads it and reports it
    page.locator("#backfill input[type=file]").set_input_files(str(export))
    navigate(page, page.get_by_role("button", name="Start the back-fill"))
    assert "Back-fill of export.ndjson started" in page.locator(".flash").first.inner_text()
    job = page.locator("tr.shown")
    assert job.count() == 1 and job.get_by_test_id("job-status").inner_text() in ("queued", "running", "completed")
    deadline = time.monotonic() + DEADLINE
    while page.locator("tr.shown").get_by_test_id("job-status").inner_text() != "completed":  # the page reloads itself meanwhile
        assert time.monotonic() < deadline, f"the back-fill did not complete: {page.locator('tr.shown').inner_text()}"
        time.sleep(0.5)
        page.reload()
    assert "read 1" in page.locator("tr.shown").get_by_test_id("job-report").inner_text()
    assert page.locator("meta[http-equiv=refresh]").count() == 0, "nothing runs: the page stops reloading"


PAGES = (f"/indicators?{PERIOD}", "/agora", "/pay?from=2026-08&to=2026-11", "/debts", "/bus", "/attendance?week=2026-11-10", "/imports",
         f"/skills?person_id={uuid.UUID(int=0)}", "/persons")

# Each element whose right edge passes its card's (or the window's), unless it sits in a box meant to scroll.
OVERFLOWING = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    out.push(`page ${document.documentElement.scrollWidth}px wide in a ${window.innerWidth}px window`);
  for (const card of document.querySelectorAll('.figure, section, .summary, .empty, .flash, form.filters')) {
    const style = getComputedStyle(card);
    if (['auto', 'scroll'].includes(style.overflowX)) continue;
    if (card.scrollWidth > card.clientWidth + 1)
      out.push(`${card.tagName.toLowerCase()}#${card.id || card.className}: ${card.scrollWidth}px in ${card.clientWidth}px`);
  }
  return out;
}"""


def test_no_page_overflows_at_desktop_or_phone_width_and_axe_finds_no_serious_violation(page, loaded):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    sign_in_as_region(page, loaded, PAGES[0])
    found = []
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for path in PAGES:
            page.goto(f"{loaded.console}{path}")
            found += [f"{width}px {path}: {problem}" for problem in page.evaluate(OVERFLOWING)]
            violations = axe.run(page).response["violations"]
            found += [f"{width}px {path}: axe {v['id']} ({v['impact']}): {v['help']} ×{len(v['nodes'])}"
                      for v in violations if v["impact"] in ("serious", "critical")]
        if width == 390:
            page.goto(f"{loaded.console}/debts")
            shot(page, "debts-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert not found, "\n".join(found)
