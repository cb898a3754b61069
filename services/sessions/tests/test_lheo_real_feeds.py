"""Real Carif-Oref LHEO exports imported whole over HTTP, and the feed pulled on a schedule from
a local HTTP server started here (no mock of the client or of the import).

Data: `data/lheo/real/` (its README gives each file's origin). What the tests expect is counted
from the file itself with lxml (formations, actions, sessions, places, hours, organisations),
never typed in from memory.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import pytest
from lxml import etree
from pacte_common.contracts.sessions import SessionPublished
from pacte_common.events import Topics
from pacte_testing import eventually, read_topic
from sessions.domain.lheo import schema_for
from sessions.settings import SessionsSettings

REAL = Path(__file__).parent / "data" / "lheo" / "real"
ETOILE = (REAL / "etoile-centre-plaquiste.lheo-2.2.xml").read_bytes()
NS = {"l": "http://www.lheo.org/2.2"}
XML = {"Content-Type": "application/xml"}
REGION_FINANCER = "2"  # LHEO dictionary of financers: Conseil régional (the setting's default)
# The Region's table for these tests: its own financer code to a programme, one other financer
# to another programme; financer 5 stays unmapped.
MAPPINGS = {"2": "VISA-METIERS", "10": "PREPA-CLES"}


# ---------------------------------------------------------------- what the file says (lxml)


def text(element, path: str) -> str | None:
    found = element.find(path, NS)
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def expected_actions(content: bytes) -> dict[str, dict]:
    """Per action numero: what the import must make of it, read straight from the file."""
    root = etree.fromstring(content)
    expected = {}
    for formation in root.iterfind("l:offres/l:formation", NS):
        responsible = text(formation, "l:organisme-formation-responsable/l:SIRET-organisme-formation/l:SIRET")
        for action in formation.iterfind("l:action", NS):
            financers = [(text(f, "l:code-financeur"), text(f, "l:nb-places-financees")) for f in action.iterfind("l:organisme-financeur", NS)]
            region = [int(p) for c, p in financers if c == REGION_FINANCER and p]
            places = region[0] if region else (sum(int(p) for _, p in financers if p) or None)
            codes = sorted((c for c, _ in financers), key=lambda c: c != REGION_FINANCER)
            weekly = action.xpath("l:extras/l:extra[@info='duree-hebdo']/text()", namespaces=NS)
            expected[action.get("numero")] = {
                "title": text(formation, "l:intitule-formation"),
                "responsible": responsible,
                "delivering_siret": text(action, "l:organisme-formateur/l:SIRET-formateur/l:SIRET"),
                "delivering_name": text(action, "l:organisme-formateur/l:raison-sociale-formateur"),
                "departement": text(action, "l:lieu-de-formation/l:coordonnees/l:adresse/l:departement"),
                "hours_in_centre": Decimal(text(action, "l:nombre-heures-centre") or 0),
                "hours_in_company": Decimal(text(action, "l:nombre-heures-entreprise") or 0),
                "weekly_hours": Decimal(weekly[0]) if weekly else None,
                "programme": next((MAPPINGS[c] for c in codes if c in MAPPINGS), None),
                "places": places,
                "sessions": {s.get("numero"): (text(s, "l:periode/l:debut"), text(s, "l:periode/l:fin"))
                             for s in action.iterfind("l:session", NS)},
            }
    return expected


def without(content: bytes, xpath: str) -> bytes:
    """The real file less some of its elements (still valid LHEO: checked by the callers)."""
    root = etree.fromstring(content)
    for element in root.xpath(xpath, namespaces=NS):
        element.getparent().remove(element)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def valid(content: bytes) -> bool:
    validator = schema_for(NS["l"])
    return validator.validate(etree.fromstring(content).getroottree())


def lheo_day(raw: str) -> str:
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"


# ---------------------------------------------------------------- a local feed server


class FeedServer:
    """Serves `files[path]` over HTTP with an ETag and a Last-Modified, answers 304 to a matching
    If-None-Match, and records each request's conditional headers."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (content, last-modified)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append({"path": self.path, "if_none_match": self.headers.get("If-None-Match"),
                                        "if_modified_since": self.headers.get("If-Modified-Since")})
                if self.path not in server.files:
                    self.send_response(404)
                    self.end_headers()
                    return
                content, modified = server.files[self.path]
                tag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("ETag", tag)
                self.send_header("Last-Modified", modified)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def feed_server():
    server = FeedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def settings(database_url, bus_settings, feed_server, request):
    """The Region's départements plus 37, where the real file's trainings are; with
    `indirect` param "pulled", the feed job pulls the local server every 0.2 s."""
    pulled = getattr(request, "param", None) == "pulled"
    return SessionsSettings(
        database_url=database_url, bus=bus_settings, consume_prescriptions=False,
        departements=frozenset({"37", "44", "49", "53", "72", "85"}),
        lheo_feed_urls=[feed_server.url("/offre.xml")] if pulled else [],
        lheo_feed_interval_s=0.2 if pulled else 0,
    )


async def seed(api):
    for code, pillar in (("VISA-METIERS", "visa"), ("PREPA-CLES", "prepa")):
        await api.ok("POST", "/programmes", api.region, 201, json=api_programme(code, pillar))
    for code, programme in MAPPINGS.items():
        await api.ok("PUT", f"/catalogue/lheo/mappings/financeur/{code}", api.region, json={"programme_code": programme})


def api_programme(code: str, pillar: str) -> dict:
    return {"code": code, "name": f"Programme {code}", "pillar": pillar, "funder": "region", "remuneration_approved": True,
            "tension_sector": False, "agora_category": "standard", "delegated_to_france_travail": False}


def by_key(report: dict, kind: str) -> dict[str, dict]:
    return {item["lheo_id"]: item for item in report["items"] if item["kind"] == kind}


async def sessions_by_key(api) -> dict[str, dict]:
    return {s["lheo_id"]: s for s in (await api.ok("GET", "/sessions?limit=500", api.region))["items"]}


# ---------------------------------------------------------------- the tests


def test_the_real_file_is_valid_lheo_2_2_and_carries_what_the_import_must_read():
    assert valid(ETOILE)
    root = etree.fromstring(ETOILE)
    assert root.xpath("//l:date-information/l:date[text()='00000000']", namespaces=NS)
    assert root.xpath("//l:nb-places-financees", namespaces=NS) and root.xpath("//l:organisme-formateur", namespaces=NS)
    assert not root.xpath("//l:extra[@info='code-dispositif']", namespaces=NS)


async def test_a_real_export_imports_whole_with_places_hours_organisations_and_programmes(api):
    await seed(api)
    mappings = await api.ok("GET", "/catalogue/lheo/mappings", api.region)
    assert {(m["kind"], m["code"], m["programme_code"]) for m in mappings} == {("financeur", c, p) for c, p in MAPPINGS.items()}
    expected = expected_actions(ETOILE)
    formations = len(etree.fromstring(ETOILE).findall("l:offres/l:formation", NS))
    sessions_in_file = sum(len(a["sessions"]) for a in expected.values())

    report = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=ETOILE)
    assert report["lheo_version"] == "2.2"
    assert report["counts"] == {"created": formations + len(expected) + sessions_in_file, "updated": 0, "unchanged": 0, "rejected": 0}
    assert report["places_unknown"] == []
    actions = by_key(report, "action")
    sessions = await sessions_by_key(api)
    assert len(sessions) == sessions_in_file
    for numero, want in expected.items():
        item = actions[numero]
        assert item["departement"] == "37 Indre-et-Loire"
        assert "date-information/date 00000000 (LHEO's unknown date): not recorded" in item["defaults"]
        action = await api.ok("GET", f"/actions/{item['id']}", api.region)
        assert action["title"] == want["title"] and action["organisation_siret"] == want["responsible"]
        assert (action["delivering_siret"], action["delivering_name"]) == (want["delivering_siret"], want["delivering_name"])
        assert action["departement"] == want["departement"] and action["programme_code"] == want["programme"]
        assert Decimal(action["hours_in_centre"]) == want["hours_in_centre"]
        assert Decimal(action["hours_in_company"]) == want["hours_in_company"]
        assert (Decimal(action["weekly_hours"]) if action["weekly_hours"] else None) == want["weekly_hours"]
        for key, (start, end) in want["sessions"].items():
            session = sessions[key]
            assert session["action_id"] == item["id"] and session["places"] == want["places"]
            assert (session["start_date"], session["end_date"]) == (lheo_day(start), lheo_day(end))
            assert session["delivering_siret"] == want["delivering_siret"] and session["places_unknown"] is False
            assert session["information_meetings"] == []  # only LHEO's unknown date in the file
            assert session["recruitment_state"] == "open"
            defaults = by_key(report, "session")[key]["defaults"]
            assert any(d.startswith("places = ") and "nb-places-financees" in d for d in defaults)
    # The Region's financer first: its places and its programme, whatever else funds the action.
    assert actions["07_123324"]["defaults"][0] == "programme 'VISA-METIERS': code-financeur 2 as the Region maps it"
    assert by_key(report, "session")["114782"]["defaults"] == ["places = sum of nb-places-financees (code-financeur 10, 5; none is the Region's 2)"]

    again = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=ETOILE)
    assert again["counts"]["unchanged"] == report["counts"]["created"]

    # Prescribers (orientation) see the delivering organisation: it travels in the snapshot.
    events = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=sessions_in_file)
    published = {e.data.session.session_id: e.data.session for e in events if isinstance(e.data, SessionPublished)}
    by_id = {s["id"]: s for s in sessions.values()}
    assert set(published) == {UUID(i) for i in by_id}
    for snapshot in published.values():
        assert snapshot.delivering_siret == by_id[str(snapshot.session_id)]["delivering_siret"] is not None
        assert snapshot.places == by_id[str(snapshot.session_id)]["places"] and snapshot.places_unknown is False


async def test_a_session_without_any_places_is_imported_closed_until_the_region_sets_them(api):
    await seed(api)
    no_places = without(ETOILE, "//l:organisme-financeur/l:nb-places-financees")
    assert valid(no_places)
    report = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=no_places)
    in_file = [s.get("numero") for s in etree.fromstring(no_places).iterfind(".//l:session", NS)]
    assert report["counts"]["rejected"] == 0 and sorted(report["places_unknown"]) == sorted(in_file)
    sessions = await sessions_by_key(api)
    first = sessions[in_file[0]]
    assert (first["places"], first["places_unknown"], first["recruitment_state"]) == (0, True, "closed")

    opened = await api.ok("PATCH", f"/sessions/{first['id']}", api.region, json={"places": 6})
    assert (opened["places"], opened["places_unknown"], opened["recruitment_state"]) == (6, False, "open")
    again = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=no_places)
    assert by_key(again, "session")[in_file[0]]["status"] == "unchanged"  # the Region's places are kept
    assert (await sessions_by_key(api))[in_file[0]]["places"] == 6


async def test_programme_query_parameter_still_overrides_and_unmapped_financers_are_named(api):
    await api.ok("POST", "/programmes", api.region, 201, json=api_programme("VISA-METIERS", "visa"))
    unmapped = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=ETOILE)
    reasons = {k: i["reason"] for k, i in by_key(unmapped, "action").items()}
    assert "code-financeur 10, 5" in reasons["07_114782"] and "code-financeur 2" in reasons["07_123324"]
    assert unmapped["counts"]["created"] == 0
    forced = await api.ok("POST", "/catalogue/lheo?programme_code=VISA-METIERS", {**api.region, **XML}, content=ETOILE)
    assert {i["status"] for i in forced["items"]} == {"created"}
    org = api.org
    assert (await api.client.get("/catalogue/lheo/mappings", headers=org)).status_code == 403
    response = await api.client.put("/catalogue/lheo/mappings/financeur/2", headers=org, json={"programme_code": "VISA-METIERS"})
    assert response.status_code == 403
    missing = await api.client.put("/catalogue/lheo/mappings/financeur/2", headers=api.region, json={"programme_code": "NOPE"})
    assert missing.status_code == 404


@pytest.mark.parametrize("settings", ["pulled"], indirect=True)
async def test_the_feed_is_pulled_on_a_schedule_closing_what_leaves_it_and_refusing_bad_files(api, feed_server):
    await seed(api)
    url = feed_server.url("/offre.xml")
    feed_server.files["/offre.xml"] = (ETOILE, "Wed, 13 Dec 2017 08:00:00 GMT")

    async def runs():
        return await api.ok("GET", "/catalogue/lheo/pulls?limit=100", api.region)

    async def seen_ids():
        return {r["id"] for r in await runs()}

    async def first_with(outcome, seen=frozenset()):
        # Oldest first among the runs not seen before (by id: the list shows the newest 100 only,
        # and a pull every 0.2 s soon passes that).
        listed = [r for r in (await runs())[::-1] if r["id"] not in seen]
        return next((r for r in listed if r["outcome"] == outcome), None)

    imported = await eventually(lambda: first_with("imported"), message="a first import")
    assert imported["feed_url"] == url and imported["http_status"] == 200 and imported["etag"]
    counts = imported["report"]["counts"]
    expected = expected_actions(ETOILE)
    formations = len(etree.fromstring(ETOILE).findall("l:offres/l:formation", NS))
    assert counts["rejected"] == 0
    assert counts["created"] == formations + len(expected) + sum(len(a["sessions"]) for a in expected.values())
    # Unchanged file: the next pull sends the validators and reads nothing.
    await eventually(lambda: first_with("not-modified"), message="a 304")
    asked = [r for r in feed_server.requests if r["if_none_match"]]
    assert asked[0]["if_none_match"] == imported["etag"] and asked[0]["if_modified_since"] == "Wed, 13 Dec 2017 08:00:00 GMT"

    # The second action leaves the feed: its session is closed, never deleted.
    seen = await seen_ids()
    leaving = "07_123324"
    smaller = without(ETOILE, f"//l:action[@numero='{leaving}']")
    assert valid(smaller)
    feed_server.files["/offre.xml"] = (smaller, "Thu, 14 Dec 2017 08:00:00 GMT")
    second = await eventually(lambda: first_with("imported", seen), message="the new file imported")
    left = sorted(expected[leaving]["sessions"])
    assert second["report"]["closed"] == left and second["closed_sessions"] == len(left)
    sessions = await sessions_by_key(api)
    assert all(sessions[k]["recruitment_state"] == "closed" and not sessions[k]["cancelled"] for k in left)
    assert all(s["recruitment_state"] == "open" for k, s in sessions.items() if k not in left)
    before = {k: s["version"] for k, s in sessions.items()}

    # A bad file changes nothing and is reported.
    seen = await seen_ids()
    feed_server.files["/offre.xml"] = (smaller.replace(b"<certifiante>1</certifiante>", b"<certifiante>oui</certifiante>"), "Fri, 15 Dec 2017 08:00:00 GMT")
    failed = await eventually(lambda: first_with("failed", seen), message="the bad file refused")
    assert failed["error"].startswith("invalid-lheo: the file is not valid LHEO 2.2") and failed["report"] is None
    assert {k: s["version"] for k, s in (await sessions_by_key(api)).items()} == before
    assert (await api.client.get("/catalogue/lheo/pulls", headers=api.org)).status_code == 403


async def test_the_export_writes_each_formation_once_with_its_actions_and_reimports_unchanged(api):
    await seed(api)
    imported = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=ETOILE)
    api.clock.today = date(2017, 10, 1)  # the real sessions are open then
    response = await api.client.get("/catalogue/lheo")
    assert response.status_code == 200
    exported = etree.fromstring(response.content)
    ns = {"l": "http://lheo.gouv.fr/2.3"}
    assert schema_for(ns["l"]).validate(exported.getroottree())
    source = etree.fromstring(ETOILE)
    assert [f.get("numero") for f in exported.iterfind("l:offres/l:formation", ns)] == [
        f.get("numero") for f in source.iterfind("l:offres/l:formation", NS)
    ]
    assert sorted(a.get("numero") for a in exported.iterfind(".//l:action", ns)) == sorted(expected_actions(ETOILE))
    assert {s.text for s in exported.iterfind(".//l:organisme-formateur/l:SIRET-formateur/l:SIRET", ns)} == {
        s.text for s in source.iterfind(".//l:organisme-formateur/l:SIRET-formateur/l:SIRET", NS)
    }
    again = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=response.content)
    assert again["counts"]["unchanged"] == imported["counts"]["created"]
    assert {i["status"] for i in again["items"]} == {"unchanged"}
