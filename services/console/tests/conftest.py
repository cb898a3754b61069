"""The console's browser tests: the whole suite (console included) started as `pacte up`
starts it, on free ports, loaded with a few journeys over the services' HTTP APIs; then a
real headless Chromium (Debian's package) driven by Playwright's Python client."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from agora_sandbox.settings import DEV_SANDBOX_TOKEN
from pacte_common.auth import OrgKind
from pacte_testing import eventually, new_nir, new_siret, running_suite
from pacte_tools.dev_issuer import dev_token
from pacte_tools.suite import Suite

CHROMIUM = Path(os.environ.get("PACTE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEADLINE = 60.0


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    # attendance reads server time from a clock file (development only), so that the sheets'
    # half-days of autumn 2026 are signed in their windows (test_console.py)
    folder = tmp_path_factory.mktemp("console-suite")
    os.environ["PACTE_ATTENDANCE_CLOCK_FILE"] = str(folder / "attendance-clock")
    try:
        with running_suite(folder, "console") as running:
            running.clock_file = folder / "attendance-clock"
            yield running
    finally:
        os.environ.pop("PACTE_ATTENDANCE_CLOCK_FILE", None)


# ---------------------------------------------------------------------- journeys






TERRITORY = "T-TEST-44"  # session A's territory (its action names it; no training place)


def profile(sex: str, birth_date: str, level: str) -> dict:
    return {"sex": sex, "birth_date": birth_date, "education_level": level, "jobseeker_category": "A",
            "jobseeker_registration_date": "2024-01-15"}


@dataclass
class Loaded:
    """What the journeys left in the suite, and the numbers the console must show."""

    suite: Suite
    org_a: str
    org_b: str
    programme_a: str
    programme_b: str
    rejected_dossier: str = ""
    waiting_dossier: str = ""
    excluded_dossier: str = ""
    files: dict[str, str] = field(default_factory=dict)
    person_a1: str = ""
    session_a: str = ""

    @property
    def console(self) -> str:
        return self.suite.url("console")

    def token(self, kind: OrgKind, org: str = "region") -> str:
        return suite_token(self.suite, kind, org)


def suite_token(suite: Suite, kind: OrgKind, org: str = "region") -> str:
    """A token from the suite's development issuer, for every service (what `pacte token` prints)."""
    return dev_token(OrgKind(kind).value, org, settings=suite.issuer_settings)


class Partners:
    def __init__(self, suite: Suite):
        self.suite = suite
        self.clients: list[httpx.AsyncClient] = []

    def client(self, service: str, kind: OrgKind, org: str = "region") -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.suite.url(service), headers={"Authorization": f"Bearer {suite_token(self.suite, kind, org)}"}, timeout=30)
        self.clients.append(client)
        return client

    async def close(self):
        for client in self.clients:
            await client.aclose()


def ok(response: httpx.Response, *codes: int) -> dict:
    assert response.status_code in (codes or (200, 201)), f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json()


async def load_journeys(suite: Suite) -> Loaded:
    """Two organisations, four trainees in autumn 2026 (the expected figures are in test_console.py)."""
    data = Loaded(suite, org_a=new_siret(), org_b=new_siret(), programme_a=f"VISA-{uuid.uuid4().hex[:6]}", programme_b=f"SANTE-{uuid.uuid4().hex[:6]}")
    p = Partners(suite)
    try:
        region = p.client("sessions", OrgKind.REGION)
        prescriber = p.client("orientation", OrgKind.PRESCRIBER, "PE-44001")
        gateway = p.client("agora-gateway", OrgKind.REGION)
        region_pay = p.client("remuneration", OrgKind.REGION)
        sandbox = httpx.AsyncClient(base_url=suite.url("agora-sandbox"), headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}, timeout=30)
        p.clients.append(sandbox)

        async def open_session(org, code, category, departement, start, end, places, territory=None) -> str:
            ok(await region.post("/programmes", json={"code": code, "name": f"Programme {code}", "pillar": "visa",
                                                       "remuneration_approved": True, "agora_category": category}))
            action = ok(await region.post("/actions", json={
                "programme_code": code, "organisation_siret": org, "title": "Agent de propreté", "hours_in_centre": "420",
                "hours_in_company": "70", "hourly_price": "12.50", "departement": departement, "weekly_hours": "35",
                "certifying": True, "rncp_code": "RNCP34691", "skill_blocks": ["BC01"], "territory_code": territory}))
            session = ok(await region.post("/sessions", json={"action_id": action["id"], "start_date": start, "end_date": end, "places": places}))

            async def visible():
                response = await prescriber.get(f"/sessions/{session['session_id']}")
                return response.status_code == 200 and response.json()["open_for_prescription"]

            await eventually(visible, DEADLINE, message="session in orientation")
            return session["session_id"]

        async def admitted(org, session_id, sex, birth_date, level) -> str:
            org_orientation = p.client("orientation", OrgKind.TRAINING_ORG, org)
            org_sessions = p.client("sessions", OrgKind.TRAINING_ORG, org)
            prescription = ok(await prescriber.post("/prescriptions", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                "session_id": session_id, "identity": {"birth_name": "Durand", "first_names": "Camille", "nir": new_nir("2" if sex == "F" else "1", departement=random.choice(["44", "85"]))},
                "profile": profile(sex, birth_date, level), "professional_project": "Agent de propreté"}))
            ok(await org_orientation.post(f"/prescriptions/{prescription['id']}/admit"))

            async def dossier():
                items = ok(await org_sessions.get("/dossiers", params={"prescription_id": prescription["id"]}))["items"]
                return items[0]["id"] if items else None

            return await eventually(dossier, DEADLINE, message="training file opened")

        async def declare(org, dossier_id, action, body):
            ok(await p.client("sessions", OrgKind.TRAINING_ORG, org).post(f"/dossiers/{dossier_id}/{action}", json=body))

        async def flow_status(dossier_id, operation):
            response = await gateway.get(f"/dossiers/{dossier_id}")
            if response.status_code != 200:
                return None
            return next((f["status"] for f in response.json()["flows"] if f["operation"] == operation), None)

        session_a = await open_session(data.org_a, data.programme_a, "standard", "44", "2026-09-01", "2026-12-18", 12, territory=TERRITORY)
        session_b = await open_session(data.org_b, data.programme_b, "health_social", "85", "2026-09-07", "2027-03-31", 10)

        # a1: a woman of 31, level V; AGORA rejects her entry once (a flow to retry from the console)
        a1 = await admitted(data.org_a, session_a, "F", "1995-03-10", "v")
        ok(await sandbox.put("/v1/faults", json={"rejections": [{"operation": "enter", "code": "E-ENTRY-DATE", "message": "Entry date refused by the test", "remaining": 1}]}))
        try:
            await declare(data.org_a, a1, "entry", {"entry_date": "2026-09-01"})
            await eventually(lambda: _is(flow_status(a1, "enter"), "rejected"), DEADLINE, message="entry rejected by AGORA")
        finally:
            ok(await sandbox.put("/v1/faults", json={}))
        data.rejected_dossier = a1
        org_pay = p.client("remuneration", OrgKind.TRAINING_ORG, data.org_a)

        async def pay_knows():
            return (await region_pay.get(f"/files/{a1}")).status_code == 200

        await eventually(pay_knows, DEADLINE, message="remuneration knows the file")
        ok(await org_pay.post("/requests", json={"dossier_id": a1, "iban": "FR7630006000011234567890189"}))
        ok(await p.client("sessions", OrgKind.TRAINING_ORG, data.org_a).put(f"/dossiers/{a1}/attendance/2026-09", json={
            "planned_hours": "140", "attended_hours": "140", "justified_absence_hours": "0", "unjustified_absence_hours": "0", "in_company_hours": "0"}))

        async def attendance_arrived():
            response = await region_pay.get(f"/files/{a1}")
            return response.status_code == 200 and "2026-09" in response.json()["attendance_versions"]

        await eventually(attendance_arrived, DEADLINE, message="attendance in remuneration")
        await declare(data.org_a, a1, "exit", {"exit_date": "2026-11-30", "kind": "completed", "certification_result": "obtained"})

        # a2: a man of 24, level III and above
        a2 = await admitted(data.org_a, session_a, "M", "2002-05-20", "iii_and_above")
        await declare(data.org_a, a2, "entry", {"entry_date": "2026-10-05"})

        # a3: a woman of 38 enrolled directly without her NIR: AGORA's creation waits for it
        org_a_sessions = p.client("sessions", OrgKind.TRAINING_ORG, data.org_a)
        a3 = ok(await org_a_sessions.post("/dossiers", json={"session_id": session_a, "profile": profile("F", "1988-01-01", "iv"),
                                                             "identity": {"birth_name": "Martin", "first_names": "Inès"}}), 201)["id"]
        await declare(data.org_a, a3, "entry", {"entry_date": "2026-10-01"})
        data.waiting_dossier = a3

        # b1: a man of 56 in a health and social care programme (outside AGORA's perimeter), drops out for a job
        b1 = await admitted(data.org_b, session_b, "M", "1970-02-02", "iv")
        await declare(data.org_b, b1, "entry", {"entry_date": "2026-09-07"})
        await declare(data.org_b, b1, "exit", {"exit_date": "2026-10-15", "kind": "dropout", "dropout_reason": "employment"})
        data.excluded_dossier = b1

        async def gateway_knows(dossier_id, perimeter=None, waiting=None):
            response = await gateway.get(f"/dossiers/{dossier_id}")
            if response.status_code != 200:
                return False
            view = response.json()
            return (perimeter is None or view["perimeter"]["status"] == perimeter) and (waiting is None or view["waiting_for_nir"] == waiting)

        await eventually(lambda: gateway_knows(b1, perimeter="excluded"), DEADLINE, message="b1 excluded at the gateway")
        await eventually(lambda: gateway_knows(a3, waiting=True), DEADLINE, message="a3 waits for its NIR")
        data.files = {"a1": a1, "a2": a2, "a3": a3, "b1": b1}
        data.session_a = session_a
        data.person_a1 = ok(await region.get(f"/dossiers/{a1}"))["person_id"]
        # territories (a test table: the Region's real list is loaded the same way, docs/territories.md)
        ok(await region.put("/territories", json={"source": "console test fixture, not the Region's list", "territories": [
            {"code": TERRITORY, "name": "Test territory (44)", "departement": "44", "places": [{"postcode": "44000"}]},
            {"code": "T-TEST-85", "name": "Test territory (85)", "departement": "85", "places": [{"postcode": "85000"}]},
        ]}), 201)
        # two ANOTEA reviews of session A (and one of a session the Pacte does not know)
        def review(review_id, session, overall, accueil):
            return {"id": review_id, "date": "2026-12-01T10:00:00Z",
                    "notes": {"accueil": accueil, "contenu_formation": 4, "equipe_formateurs": 5, "moyen_materiel": 3, "accompagnement": 4, "global": overall},
                    "formation": {"action": {"organisme_formateur": {"siret": data.org_a}, "session": {"numero": session}}}}

        report = ok(await region.post("/satisfaction/imports", json={"avis": [
            review(f"rv-{uuid.uuid4().hex[:8]}", session_a, 4.5, 5), review(f"rv-{uuid.uuid4().hex[:8]}", session_a, 3.5, 4),
            review(f"rv-{uuid.uuid4().hex[:8]}", "SE-UNKNOWN", 1, 1)]}))
        assert report["created"] == 2 and len(report["unknown"]) == 1, report
        # the indicators are insights', built from these events: wait until it has heard them all
        # (eventually consistent, docs/insights.md)
        insights = p.client("insights", OrgKind.REGION)

        async def insights_caught_up():
            body = ok(await insights.get("/indicators", params={"from": "2026-09-01", "to": "2026-12-31", "compare": "territory"}))
            territories = {row["key"]: row["entries"] for row in body["compare"]["rows"]}
            return (body["all"]["entries"] == 4 and body["all"]["dropout_rate"]["denominator"] == 2
                    and body["satisfaction"]["responses"] == 2 and territories.get(TERRITORY) == 3)

        await eventually(insights_caught_up, DEADLINE, message="insights heard the journeys")
        return data
    finally:
        await p.close()


async def _is(value, expected) -> bool:
    return (await value) == expected


@pytest.fixture(scope="module")
def loaded(suite) -> Loaded:
    return asyncio.run(load_journeys(suite))


# ---------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser(loaded):
    # After the suite and the journeys: Playwright's sync API runs an event loop in this
    # thread, where asyncio.run (suite start, journeys) could no longer run; closed with the
    # module, so that the async tests collected after it get their own loops again.
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the console's browser tests need it. Install Debian's package "
            "(`apt-get install chromium`, which `./pacte test` does when run as root) or set PACTE_TEST_CHROMIUM.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(90_000)  # a loaded CI machine: pages read up to 13 service calls
    try:
        yield page
    finally:
        context.close()


