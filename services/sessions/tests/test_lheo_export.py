"""`GET /catalogue/lheo`: the Region's open offer in LHEO 2.3, public, cacheable, and what the
import reads back unchanged."""

from pathlib import Path

from lxml import etree
from sessions.domain.lheo import EXPORT_NAMESPACE, schema_for

DATA = Path(__file__).parent / "data" / "lheo"
OFFER = (DATA / "offre-pays-de-la-loire.lheo-2.3.xml").read_bytes()
XML = {"Content-Type": "application/xml"}
NS = {"l": EXPORT_NAMESPACE}


async def seed(api) -> dict:
    """The 2.3 offer imported, plus an action and a session created through the API (no LHEO id)."""
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("VISA-METIERS", "visa"))
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("PREPA-CLES", "prepa"))
    await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=OFFER)
    return await api.catalogue(departement="49", start=api.clock.today, places=9)


def parse_valid(content: bytes) -> etree._Element:
    tree = etree.fromstring(content).getroottree()
    validator = schema_for(EXPORT_NAMESPACE)
    assert validator.validate(tree), [f"{e.line}: {e.message}" for e in validator.error_log]
    return tree.getroot()


async def test_export_is_public_valid_lheo_of_the_open_sessions_and_round_trips(api):
    api_session = await seed(api)
    response = await api.client.get("/catalogue/lheo")  # no token
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = parse_valid(response.content)

    sessions = root.xpath("//l:session/@numero", namespaces=NS)
    # Open ones only: S-2026-0001-B is closed; the Rennes one was never imported.
    assert sorted(sessions) == sorted(["S-2026-0001-A", "S-2026-0001-LAVAL-ESP", "S-2026-0002-ANGERS", api_session["id"]])
    nantes = root.xpath("//l:action[@numero='A-2026-0001-NANTES']", namespaces=NS)[0]
    formation = nantes.getparent()
    assert formation.get("numero") == "F-2026-0001"
    assert formation.xpath("l:domaine-formation/l:code-FORMACODE[@tag='principal']/text()", namespaces=NS) == ["42811"]
    assert formation.xpath("l:certification/l:code-RNCP/text()", namespaces=NS) == ["RNCP34174"]
    assert formation.xpath("l:organisme-formation-responsable/l:SIRET-organisme-formation/l:SIRET/text()", namespaces=NS) == ["12345678900015"]
    assert nantes.xpath("l:lieu-de-formation/l:coordonnees/l:adresse/l:departement/text()", namespaces=NS) == ["44"]
    assert nantes.xpath("l:session/l:periode/l:debut/text()", namespaces=NS) == ["20260105"]
    assert nantes.xpath("l:extras/l:extra[@info='code-dispositif']/text()", namespaces=NS) == ["VISA-METIERS"]

    report = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=response.content)
    changed = [item for item in report["items"] if item["status"] != "unchanged"]
    assert changed == [], changed
    # formations (F-2026-0001 once, with its Nantes and Laval actions), actions, sessions
    assert report["counts"]["unchanged"] == len(report["items"]) == 3 + 4 + 4
    assert len(formation.xpath("l:action", namespaces=NS)) == 2

    again = await api.client.get("/catalogue/lheo")
    assert again.content == response.content and again.headers["etag"] == response.headers["etag"]


async def test_export_etag_answers_304_until_the_offer_changes(api):
    await seed(api)
    first = await api.client.get("/catalogue/lheo")
    tag = first.headers["etag"]
    assert tag.startswith('"') and first.headers["cache-control"] == "public, no-cache"

    unchanged = await api.client.get("/catalogue/lheo", headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == tag
    assert (await api.client.get("/catalogue/lheo", headers={"If-None-Match": '"other"'})).status_code == 200

    more_places = OFFER.replace(b'<extra info="nombre-places">12</extra>', b'<extra info="nombre-places">14</extra>')
    await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=more_places)
    after = await api.client.get("/catalogue/lheo", headers={"If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag
    assert b'<extra info="nombre-places">14</extra>' in after.content


async def test_export_carries_no_personal_data(api):
    session = await seed(api)
    await api.enrol(session["id"], nir=api.NIR)
    content = (await api.client.get("/catalogue/lheo")).content
    parse_valid(content)
    for personal in (api.NIR.encode(), b"Martin", b"Camille", b"1990-04-12", b"19900412"):
        assert personal not in content
    # Contacts of the imported file (a person's e-mail, a phone) are not republished.
    assert b"accueil@erdre-formation.example" not in content and b"0240000000" not in content
    assert b'<extra info="places-disponibles">8</extra>' in content  # 9 places, one taken


async def test_finished_sessions_are_not_exported(api):
    await seed(api)
    api.clock.today = api.clock.today.replace(year=2028)
    response = await api.client.get("/catalogue/lheo")
    root = etree.fromstring(response.content)
    # LHEO's `offres` needs one formation at least: with nothing open the feed is an empty
    # <offres/>, the one document the XSD cannot express (docs/lheo.md).
    assert response.status_code == 200 and root.xpath("//l:formation", namespaces=NS) == []
