"""The public pages (docs/public-search.md, "The page") in a real headless Chromium, served by the
insights service over HTTP: the search form and its results without JavaScript, a training's
page, a refused field named in the page, no request leaving the service, and at 390 px and
1280 px nothing overflows and axe-core finds no serious or critical violation.

Data: the real Carif-Oref LHEO export of sessions' tests/data/lheo/real/ (origin in its README)
and a Pays de la Loire action made through sessions' API, with ANOTEA reviews and three
trainees' results; insights hears them on the bus (both services served over HTTP).
Browser tests: run in the SQLite pass only.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path

import httpx
import pytest
import uvicorn
from insights.main import create_app
from insights.settings import InsightsSettings
from pacte_common.bus import BusSettings
from pacte_testing import auth_header, project_root
from sessions.main import create_app as create_sessions
from sessions.settings import SessionsSettings

CHROMIUM = Path(os.environ.get("PACTE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ETOILE = (project_root() / "services" / "sessions" / "tests" / "data" / "lheo" / "real" / "etoile-centre-plaquiste.lheo-2.2.xml").read_bytes()
TODAY = date(2017, 11, 6)  # the real export's sessions are open then
PDL_SIRET = "12345678900015"
MIN_BASE = 3
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


class Clock:
    def __init__(self, today: date):
        self.today = today

    def __call__(self) -> datetime:
        return datetime.combine(self.today, clock_time(10), tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Site:
    """`url`: insights, which serves the pages; `ok` writes to sessions (`upstream`)."""

    def __init__(self, url: str, upstream: str, settings: SessionsSettings, clock: Clock):
        self.url, self.settings, self.clock = url, settings, clock
        self.http = httpx.Client(base_url=upstream, timeout=30)
        self.region = auth_header(settings, "region", "region")
        self.org = auth_header(settings, "training_org", PDL_SIRET)

    def ok(self, method: str, path: str, headers: dict, expected: int = 200, **kwargs):
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


def programme(code: str) -> dict:
    return {"code": code, "name": f"Programme {code}", "pillar": "visa", "funder": "region", "remuneration_approved": True,
            "tension_sector": False, "agora_category": "standard", "delegated_to_france_travail": False}


def seed(site: Site) -> dict:
    site.ok("POST", "/programmes", site.region, 201, json=programme("VISA-METIERS"))
    site.ok("PUT", "/catalogue/lheo/mappings/financeur/2", site.region, json={"programme_code": "VISA-METIERS"})
    site.ok("PUT", "/catalogue/lheo/mappings/financeur/10", site.region, json={"programme_code": "VISA-METIERS"})
    report = site.ok("POST", "/catalogue/lheo", {**site.region, "Content-Type": "application/xml"}, content=ETOILE)
    ids = {i["lheo_id"]: i["id"] for i in report["items"] if i["kind"] in ("action", "session")}
    action = site.ok("POST", "/actions", site.region, 201, json={
        "programme_code": "VISA-METIERS", "organisation_siret": PDL_SIRET, "title": "Agent de propreté et d'hygiène",
        "formacode": "42811", "certifying": True, "hours_in_centre": "400", "hours_in_company": "140", "weekly_hours": "35",
        "hourly_price": "12.50", "departement": "44"})
    body = {"action_id": action["id"], "places": 12}
    past = site.ok("POST", "/sessions", site.region, 201, json={**body, "start_date": "2016-01-04", "end_date": "2016-06-24"})
    site.ok("POST", "/sessions", site.region, 201, json={**body, "start_date": "2018-01-08", "end_date": "2018-06-29",
                                                        "information_meetings": ["2017-11-20"]})
    ids["pdl"] = action["id"]
    exited(site, past["id"])
    notes = {"global": 4, "accueil": 5, "contenu_formation": 4, "equipe_formateurs": 4, "moyen_materiel": 3, "accompagnement": 4}
    avis = [{"id": f"avis-{n}", "date": "2017-06-30", "notes": notes, "commentaire": {"texte": f"Très bonne formation {n}"}, "formation": {"action": {
        "numero": "07_114782", "session": {"numero": "114782"}, "organisme_formateur": {"siret": "82422814200660"}}}} for n in range(3)]
    assert not site.ok("POST", "/satisfaction/imports", site.region, json=avis)["unknown"]
    return ids


def exited(site: Site, session_id: str) -> None:
    """Three trainees of the past session: two in a job 6 months after the exit, one not."""
    site.clock.today = date(2016, 1, 4)
    files = []
    for n in range(3):
        dossier = site.ok("POST", "/dossiers", site.org, 201, json={
            "session_id": session_id, "identity": {"birth_name": f"Nom{n}", "first_names": "Camille"},
            "profile": {"sex": "F", "birth_date": "1990-04-12", "education_level": "v", "jobseeker_category": "A",
                        "jobseeker_registration_date": "2015-09-01", "disabled_worker": False, "qpv": False}})
        site.ok("POST", f"/dossiers/{dossier['id']}/entry", site.org, json={"entry_date": "2016-01-04"})
        files.append(dossier["id"])
    site.clock.today = date(2016, 6, 24)
    for file in files:
        site.ok("POST", f"/dossiers/{file}/exit", site.org, json={"exit_date": "2016-06-24", "kind": "completed"})
    site.clock.today = TODAY
    lines = [{"dossier_id": f, "horizon_months": 6, "situation": s, "observed_on": "2016-12-26"}
             for f, s in zip(files, ["permanent_job", "fixed_term_6_months_plus", "job_seeking"], strict=True)]
    site.ok("POST", "/outcomes/imports", site.region, 201, json={"lines": lines})


def serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def heard(site: Site) -> None:
    """Waits until insights has heard what the pages show: the reviews and the results."""
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=site.url, timeout=30) as http:
        while True:
            first = http.get(f"/public/trainings/{site.ids['07_114782']}").json()
            pdl = http.get(f"/public/trainings/{site.ids['pdl']}").json()
            if first.get("reviews", {}).get("training", {}).get("reviews") == 3 and len(first.get("comments", [])) == 3 \
                    and pdl.get("employment_6_months", {}).get("respondents") == 3:
                return
            assert time.monotonic() < deadline, f"insights did not hear the offer, reviews and results: {first} {pdl}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def site(kafka_bootstrap, tmp_path_factory):
    bus = BusSettings(bootstrap_servers=kafka_bootstrap, topic_namespace=f"t{uuid.uuid4().hex[:10]}.", topic_partitions=2)
    folder = tmp_path_factory.mktemp("public-page")
    upstream_settings = SessionsSettings(database_url=f"sqlite+aiosqlite:///{folder / 'sessions.db'}", bus=bus, consume_prescriptions=False,
                                         departements=frozenset({"37", "44", "49", "53", "72", "85"}))
    settings = InsightsSettings(database_url=f"sqlite+aiosqlite:///{folder / 'insights.db'}", bus=bus, public_min_base=MIN_BASE)
    clock = Clock(TODAY)
    servers = [serve(create_sessions(upstream_settings, clock=clock)), serve(create_app(settings, clock=clock))]
    site = Site(servers[1][2], servers[0][2], upstream_settings, clock)
    try:
        site.ids = seed(site)
        heard(site)
        yield site
    finally:
        site.http.close()
        for server, thread, _ in reversed(servers):
            server.should_exit = True
            thread.join(30)


@pytest.fixture(scope="module")
def browser(site):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM} (`apt-get install chromium`, or set PACTE_TEST_CHROMIUM)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, site):
    """A page without JavaScript that records every request it makes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    try:
        yield page
    finally:
        context.close()


def submit(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Rechercher").click()


def test_search_then_a_training_without_javascript_and_nothing_from_elsewhere(page, site):
    page.goto(f"{site.url}/formations")
    page.get_by_label("Métier, formation, mots-clés").fill("plaquistes")
    page.get_by_label("Commune ou code postal").fill("37250")
    page.get_by_label("Distance", exact=True).select_option("10")
    submit(page)
    results = page.get_by_test_id("result")
    assert results.count() == 2
    first = results.first.inner_text()
    assert "Titre professionnel plaquiste" in first and "AFPA de Veigné" in first and "Veigné (37250)" in first
    assert "4,00 / 5 (3 avis)" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.locator(f'a[href="/formations/{site.ids["07_114782"]}"]').click()
    assert page.get_by_role("heading", level=1).inner_text() == "Titre professionnel plaquiste"
    assert page.get_by_role("row", name="Accueil").inner_text().split() == ["Accueil", "5,00"]
    assert page.get_by_test_id("session").count() == 1
    assert sorted(page.get_by_test_id("comment").all_inner_texts()) == [f"Très bonne formation {n}" for n in range(3)]
    page.goto(f"{site.url}/formations/{site.ids['pdl']}")
    text = page.locator("main").inner_text()
    assert "67 %" in text and "2 réponses" not in text and "3 réponses sur 3 sortants" in text
    assert "Prochaine réunion d'information : le 20/11/2017" in text
    assert "Nom0" not in page.content() and "1990-04-12" not in page.content()
    assert all(url.startswith(site.url) for url in page.requests), [u for u in page.requests if not u.startswith(site.url)]


def test_a_refused_field_is_named_in_the_page_and_an_unknown_training_is_a_404(page, site):
    page.goto(f"{site.url}/formations")
    page.get_by_text("Plus de critères").click()
    page.get_by_label("Code ROME").fill("Z1")
    submit(page)
    field = page.get_by_label("Code ROME")
    assert field.get_attribute("aria-invalid") == "true"
    assert "une lettre de A à N" in page.locator("#rome-error").inner_text()
    assert page.get_by_role("alert").count() == 1
    response = page.goto(f"{site.url}/formations/{uuid.uuid4()}")
    assert response.status == 404 and page.get_by_role("heading", level=1).inner_text() == "Formation introuvable"


OVERFLOWING = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    out.push(`page ${document.documentElement.scrollWidth}px wide in a ${window.innerWidth}px window`);
  for (const box of document.querySelectorAll('form, section, .card, dl, table, h1, h3')) {
    if (box.scrollWidth > box.clientWidth + 1)
      out.push(`${box.tagName.toLowerCase()}.${box.className}: ${box.scrollWidth}px in ${box.clientWidth}px`);
  }
  return out;
}"""


def test_no_page_overflows_at_phone_or_desktop_width_and_axe_finds_no_serious_violation(browser, site):
    from axe_playwright_python.sync_playwright import Axe

    axe, found = Axe(), []
    paths = ["/formations", "/formations?q=plaquiste&near=37250&radius_km=10", "/formations?q=propreté",
             "/formations?rome=Z1&near=Atlantis", f"/formations/{site.ids['07_114782']}", f"/formations/{site.ids['pdl']}",
             f"/formations/{uuid.uuid4()}"]
    for width, height in ((390, 844), (1280, 900)):
        context = browser.new_context(viewport={"width": width, "height": height})  # axe needs JavaScript
        page = context.new_page()
        for path in paths:
            page.goto(f"{site.url}{path}")
            found += [f"{width}px {path}: {problem}" for problem in page.evaluate(OVERFLOWING)]
            violations = axe.run(page).response["violations"]
            found += [f"{width}px {path}: axe {v['id']} ({v['impact']}): {v['help']} ×{len(v['nodes'])}"
                      for v in violations if v["impact"] in ("serious", "critical")]
            if width == 390 and path in (paths[1], paths[5]):  # for docs/public-search.md
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                name = "public-search-phone" if path == paths[1] else "public-training-phone"
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()
    assert not found, "\n".join(found)
