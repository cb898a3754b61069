"""LHEO import over HTTP, against the official XSD: a real public 2.2 file, a 2.3 offer written
from the XSD, re-imports, 1.x and foreign files, XSD errors with lines, hardened parsing.

Data (tests/data/lheo/README.md): `exemple-bts-onisep.lheo-2.2.xml` is a real ONISEP export from
lheo/lheo-schema; `exemple-photographe.lheo-1.3.0.xml` an excerpt of LHEO's own 1.3.0 example;
`offre-pays-de-la-loire.lheo-2.3.xml` is written element by element from the XSD.
"""

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from pacte_common.contracts.sessions import SessionPublished, SessionUpdated
from pacte_common.events import Topics
from pacte_testing import read_topic
from sessions.app import lheo as lheo_app
from sessions.domain.lheo import ImportOptions, LheoFileRefused, read_offer, schema_for

DATA = Path(__file__).parent / "data" / "lheo"
ONISEP = (DATA / "exemple-bts-onisep.lheo-2.2.xml").read_bytes()
OFFER = (DATA / "offre-pays-de-la-loire.lheo-2.3.xml").read_bytes()
LHEO_1 = (DATA / "exemple-photographe.lheo-1.3.0.xml").read_bytes()
XML = {"Content-Type": "application/xml"}
REGION = frozenset({"44", "49", "53", "72", "85"})

# The real file in the Region: its three <departement>29</departement> moved to 44.
ONISEP_IN_REGION = ONISEP.replace(b"<departement>29</departement>", b"<departement>44</departement>")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lheo xmlns="http://lheo.gouv.fr/2.3"><offres><formation><intitule-formation>&lol9;</intitule-formation></formation></offres></lheo>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE lheo [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<lheo xmlns="http://lheo.gouv.fr/2.3"><offres><formation><intitule-formation>&secret;</intitule-formation></formation></offres></lheo>"""


async def seed_programmes(api):
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("VISA-METIERS", "visa"))
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("PREPA-CLES", "prepa", remuneration_approved=False))


async def import_file(api, content: bytes, query: str = "") -> dict:
    return await api.ok("POST", f"/catalogue/lheo{query}", {**api.region, **XML}, content=content)


def by_key(report: dict, kind: str) -> dict[str, dict]:
    return {item["lheo_id"]: item for item in report["items"] if item["kind"] == kind}


def test_the_fixtures_are_what_they_claim_against_the_official_xsd():
    """The real 2.2 file and the 2.3 offer validate; so the tests below exercise valid LHEO."""
    for content, namespace in ((ONISEP, "http://www.lheo.org/2.2"), (OFFER, "http://lheo.gouv.fr/2.3")):
        tree = etree.fromstring(content).getroottree()
        validator = schema_for(namespace)
        assert validator.validate(tree), validator.error_log


async def test_real_onisep_file_outside_the_region_is_reported_by_name(api):
    await seed_programmes(api)
    report = await import_file(api, ONISEP, "?programme_code=VISA-METIERS&places=20")
    assert report["lheo_version"] == "2.2"
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 0, "rejected": 3}
    action = by_key(report, "action")["9436_18706"]
    assert action["status"] == "rejected" and action["name"] == "BTS négociation et relation client"
    assert action["reason"] == (
        "outside the Region: département 29 Finistère is not one of "
        "44 Loire-Atlantique, 49 Maine-et-Loire, 53 Mayenne, 72 Sarthe, 85 Vendée"
    )
    assert action["departement"] == "29 Finistère"
    assert by_key(report, "formation")["9436_18706"]["reason"] == action["reason"]
    assert by_key(report, "session")["9436_18706"]["reason"] == "its action is rejected"
    assert (await api.ok("GET", "/sessions", api.region))["items"] == []


async def test_real_onisep_file_imports_field_by_field_with_the_defaults_named(api):
    await seed_programmes(api)
    report = await import_file(api, ONISEP_IN_REGION, "?programme_code=VISA-METIERS&places=20")
    assert report["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    action_item = by_key(report, "action")["9436_18706"]
    assert "programme 'VISA-METIERS' from ?programme_code=" in action_item["defaults"]
    assert "no hours in the file (nombre-heures-*): 0 recorded" in action_item["defaults"]
    assert "no price in the file (prix-horaire-TTC, prix-total-TTC): 0 recorded" in action_item["defaults"]
    session_item = by_key(report, "session")["9436_18706"]
    assert session_item["defaults"] == ["places 20 from ?places=", "etat-recrutement absent: open"]

    action = await api.ok("GET", f"/actions/{action_item['id']}", api.region)
    assert action["title"] == "BTS négociation et relation client"
    assert action["organisation_siret"] == "19290076900014"
    assert (action["rncp_code"], action["formacode"], action["certifying"]) == ("474", "34582", True)
    assert (action["departement"], action["programme_code"]) == ("44", "VISA-METIERS")
    assert (action["hours_in_centre"], action["hourly_price"]) == ("0.00", "0.00")
    session = await api.ok("GET", f"/sessions/{session_item['id']}", api.region)
    assert (session["start_date"], session["end_date"], session["places"]) == ("2015-09-01", "2017-08-31", 20)
    assert session["recruitment_state"] == "open"

    again = await import_file(api, ONISEP_IN_REGION, "?programme_code=VISA-METIERS&places=20")
    assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 3, "rejected": 0}


async def test_offer_from_the_xsd_imports_field_by_field_and_reimports_unchanged(api):
    await seed_programmes(api)
    report = await import_file(api, OFFER)
    assert report["lheo_version"] == "2.3"
    assert report["counts"] == {"created": 9, "updated": 0, "unchanged": 0, "rejected": 3}
    assert {k: i["status"] for k, i in by_key(report, "formation").items()} == {
        "F-2026-0001": "created", "F-2026-0002": "created", "F-2026-0003": "rejected",
    }
    rennes = by_key(report, "action")["A-2026-0003-RENNES"]
    assert rennes["name"] == "Maçon en voirie et réseaux divers" and rennes["reason"].startswith("outside the Region: département 35")
    assert by_key(report, "action")["A-2026-0001-LAVAL"]["defaults"] == [
        "département read from codepostal (no <departement>)", "no organisme-formateur: the responsible organisation delivers",
    ]
    assert by_key(report, "action")["A-2026-0001-LAVAL"]["departement"] == "53 Mayenne"
    assert by_key(report, "session")["S-2026-0001-LAVAL-ESP"]["defaults"] == ["places = sum of recrutement/nb-places"]
    angers = by_key(report, "action")["A-2026-0002-ANGERS"]
    assert "no hours in the file (nombre-heures-*): 0 recorded" in angers["defaults"]
    assert by_key(report, "session")["S-2026-0002-ANGERS"]["defaults"] == ["etat-recrutement absent: open"]

    sessions = {s["lheo_id"]: s for s in (await api.ok("GET", "/sessions", api.region))["items"]}
    assert set(sessions) == {"S-2026-0001-A", "S-2026-0001-B", "S-2026-0001-LAVAL-ESP", "S-2026-0002-ANGERS"}
    nantes = sessions["S-2026-0001-A"]
    assert nantes["organisation_siret"] == "12345678900015" and nantes["programme"]["code"] == "VISA-METIERS"
    assert (nantes["start_date"], nantes["end_date"], nantes["places"]) == ("2026-01-05", "2026-06-26", 12)
    assert (nantes["hours_in_centre"], nantes["hours_in_company"], nantes["hourly_price"]) == ("400.00", "140.00", "12.50")
    assert nantes["rncp_code"] == "RNCP34174" and nantes["certifying"] is True
    assert nantes["formacode"] == "42811"  # tagged principal, second in the file
    assert nantes["information_meetings"] == ["2025-12-09", "2025-12-16"] and nantes["recruitment_state"] == "open"
    assert nantes["departement"] == "44" and nantes["territory_code"] == "TS-44-NANTES"
    nantes_action = await api.ok("GET", f"/actions/{nantes['action_id']}", api.region)
    assert nantes_action["skill_blocks"] == ["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"]
    assert nantes_action["modules"] == ["cléa", "module-remise-a-niveau"] and nantes_action["part_time"] is False
    assert sessions["S-2026-0001-B"]["recruitment_state"] == "closed"
    laval = sessions["S-2026-0001-LAVAL-ESP"]
    assert (laval["departement"], laval["places"], laval["permanent_entries"]) == ("53", 8, True)
    assert laval["weekly_hours"] == "24.00"
    laval_action = await api.ok("GET", f"/actions/{laval['action_id']}", api.region)
    assert laval_action["part_time"] is True and laval_action["distance_learning"] is True
    assert sessions["S-2026-0002-ANGERS"]["programme"]["code"] == "PREPA-CLES"

    session_id = by_key(report, "session")["S-2026-0001-A"]["id"]
    again = await import_file(api, OFFER)
    assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 9, "rejected": 3}
    assert {i["lheo_id"] for i in again["items"] if i["status"] != "unchanged"} == {"F-2026-0003", "A-2026-0003-RENNES", "S-2026-0003-RENNES"}
    assert (await api.ok("GET", f"/sessions/{session_id}", api.region))["version"] == 1  # unchanged: not even written

    changed = OFFER.replace(b'<extra info="nombre-places">12</extra>', b'<extra info="nombre-places">14</extra>')
    third = await import_file(api, changed)
    assert third["counts"] == {"created": 0, "updated": 2, "unchanged": 7, "rejected": 3}
    assert by_key(third, "session")["S-2026-0001-A"] | {"id": None} == {
        "kind": "session", "status": "updated", "lheo_id": "S-2026-0001-A", "name": "Agent de propreté et d'hygiène",
        "path": "/lheo/offres/formation[1]/action[1]/session[1]", "id": None, "reason": "changed: places", "defaults": [],
        "departement": "44 Loire-Atlantique",
    }
    assert by_key(third, "formation")["F-2026-0001"]["status"] == "updated"

    # The bus delivers at least once: events are counted by their id, as consumers do.
    events = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=5)
    distinct = {e.id: e for e in events}
    if len(distinct) < 5:  # duplicates filled the first read: read the whole topic again
        distinct = {e.id: e for e in await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=len(events) + 5)}
    kinds = [type(e.data) for e in distinct.values()]
    assert kinds.count(SessionPublished) == 4
    updates = [e for e in distinct.values() if isinstance(e.data, SessionUpdated)]
    assert len(updates) == 1 and updates[0].data.session.places == 14
    # The event carries the row as written by the bulk UPDATE.
    assert updates[0].data.session.version == (await api.ok("GET", f"/sessions/{session_id}", api.region))["version"] == 2
    assert len(distinct) == 5  # the identical re-import published nothing

    # A session added by hand to an imported action, which the feed does not name, is republished
    # with its action when the feed changes the action: its snapshot carries the action.
    by_hand = await api.ok("POST", "/sessions", api.region, 201, json={
        "action_id": nantes["action_id"], "start_date": "2026-09-07", "end_date": "2027-02-26", "places": 10})
    await import_file(api, changed.replace(b"<prix-horaire-TTC>12.50</prix-horaire-TTC>", b"<prix-horaire-TTC>13.00</prix-horaire-TTC>"))
    seen = {e.id: e for e in await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=len(distinct) + 4)}
    republished = [e.data.session for e in seen.values() if isinstance(e.data, SessionUpdated) and str(e.data.session.session_id) == by_hand["id"]]
    assert [(s.hourly_price, s.action_version) for s in republished] == [(Decimal("13.00"), 2)]


async def test_action_without_programme_is_rejected_by_name(api):
    await seed_programmes(api)
    report = await import_file(api, ONISEP_IN_REGION, "?places=20")
    action = by_key(report, "action")["9436_18706"]
    assert action["status"] == "rejected" and action["name"] == "BTS négociation et relation client"
    assert "no programme" in action["reason"] and "code-dispositif" in action["reason"]
    # Without any places information the session is imported "places unknown", closed for
    # admission until the Region sets them, and listed.
    places = await import_file(api, ONISEP_IN_REGION, "?programme_code=VISA-METIERS")
    session = by_key(places, "session")["9436_18706"]
    assert session["status"] == "created" and session["defaults"][0].startswith("places unknown")
    assert places["places_unknown"] == ["9436_18706"]
    row = await api.ok("GET", f"/sessions/{session['id']}", api.region)
    assert (row["places"], row["places_unknown"], row["recruitment_state"]) == (0, True, "closed")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (LHEO_1, "namespace 'http://www.lheo.org/1.3.0'"),
        (b'<lheo><offres/></lheo>', "without namespace"),
        (b'<lheo xmlns="http://www.lheo.org/3.0"><offres/></lheo>', "namespace 'http://www.lheo.org/3.0'"),
        (b'<lheo-index xmlns="http://lheo.gouv.fr/2.3"/>', "<lheo-index>"),
        (b'<catalogue/>', "<catalogue>"),
    ],
    ids=["lheo-1.3.0", "no-namespace", "unknown-namespace", "index-root", "foreign-root"],
)
async def test_old_or_foreign_files_are_an_unsupported_version(api, content, found):
    await seed_programmes(api)
    response = await api.client.post("/catalogue/lheo", content=content, headers={**api.region, **XML})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("unsupported-lheo-version")
    assert problem["detail"].startswith("unsupported LHEO version") and found in problem["detail"]
    assert (await api.ok("GET", "/sessions", api.region))["items"] == []


def line_of(content: bytes, needle: bytes) -> int:
    return content[: content.index(needle)].count(b"\n") + 1


async def test_a_file_the_xsd_rejects_gets_its_first_errors_with_lines(api):
    await seed_programmes(api)
    # The mistakes of the project's former fixtures: a postcode element LHEO does not have, and
    # a mandatory element missing.
    broken = OFFER.replace(
        b"<codepostal>44300</codepostal>\n              <ville>Nantes</ville>",
        b"<code-postal>44300</code-postal>\n              <ville>Nantes</ville>",
    ).replace(b"<certifiante>0</certifiante>", b"<certifiante>oui</certifiante>")
    response = await api.client.post("/catalogue/lheo", content=broken, headers={**api.region, **XML})
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("invalid-lheo")
    lines = {error["line"]: error["message"] for error in problem["errors"]}
    assert "code-postal" in lines[line_of(broken, b"<code-postal>")]
    assert "certifiante" in lines[line_of(broken, b"<certifiante>oui")]
    assert problem["detail"].startswith("the file is not valid LHEO 2.3")
    assert (await api.ok("GET", "/sessions", api.region))["items"] == []


@pytest.mark.parametrize(
    "payload",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, b'<lheo xmlns="http://lheo.gouv.fr/2.3"><offres>'],
    ids=["bomb", "xxe", "truncated"],
)
async def test_dangerous_or_unreadable_files_are_refused_whole(api, payload):
    await seed_programmes(api)
    response = await api.client.post("/catalogue/lheo", content=payload, headers={**api.region, **XML})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "body"
    assert b"root:" not in response.content  # nothing of /etc/passwd came back
    assert (await api.ok("GET", "/sessions", api.region))["items"] == []


async def test_only_the_region_imports(api):
    response = await api.client.post("/catalogue/lheo", content=OFFER, headers={**api.org, **XML})
    assert response.status_code == 403
    assert (await api.client.post("/catalogue/lheo", content=OFFER, headers=XML)).status_code == 401


async def test_parsing_and_validation_run_off_the_event_loop(api, monkeypatch):
    """The real reader runs; this only records the thread it ran on."""
    threads = []

    def recording_read_offer(data, options):
        threads.append(threading.current_thread())
        return read_offer(data, options)

    monkeypatch.setattr(lheo_app, "read_offer", recording_read_offer)
    await seed_programmes(api)
    await import_file(api, OFFER)
    assert threads and threads[0] is not threading.main_thread()


def test_reader_takes_the_principal_formacode_wherever_it_is():
    offer = read_offer(OFFER, ImportOptions(departements=REGION))
    nantes = offer.formations[0].actions[0]
    assert nantes.fields["formacode"] == "42811"
    untagged = read_offer(OFFER.replace(b' tag="principal"', b""), ImportOptions(departements=REGION))
    assert untagged.formations[0].actions[0].fields["formacode"] == "31734"  # LHEO: else the first one


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
def test_reader_accepts_the_2_0_to_2_2_namespaces(version):
    content = ONISEP_IN_REGION.replace(b"http://www.lheo.org/2.2", f"http://www.lheo.org/{version}".encode())
    offer = read_offer(content, ImportOptions(departements=REGION, programme_code="VISA-METIERS", places=20))
    assert offer.version == version
    assert offer.formations[0].actions[0].fields["organisation_siret"] == "19290076900014"


def test_each_version_is_validated_against_its_own_schema():
    """`denomination` in an address is new in 2.3 (PEL-17): valid in 2.3, refused in a 2.2 file."""
    with_denomination = ONISEP.replace(b'<adresse numero="16">\n<ligne>Lyc', b'<adresse numero="16">\n<denomination>Lyc\xc3\xa9e</denomination>\n<ligne>Lyc', 1)
    assert with_denomination != ONISEP
    with pytest.raises(LheoFileRefused, match="not valid LHEO 2.2") as refused:
        read_offer(with_denomination, ImportOptions(departements=REGION))
    assert "denomination" in refused.value.errors[0]["message"] and refused.value.errors[0]["line"] > 1


async def test_the_import_takes_files_up_to_its_own_limit_and_refuses_more_with_413(api):
    """LHEO files are larger than ordinary bodies: the route names `lheo_max_bytes`."""
    await seed_programmes(api)
    padding = b"<!--" + b" " * (api.settings.max_request_body_bytes + 1) + b"-->"
    large = OFFER.replace(b"<offres>", b"<offres>" + padding, 1)
    assert api.settings.max_request_body_bytes < len(large) <= api.settings.lheo_max_bytes
    accepted = await import_file(api, large)
    assert accepted["counts"]["created"] == 9
    too_large = b" " * (api.settings.lheo_max_bytes + 1)
    response = await api.client.post("/catalogue/lheo", content=too_large, headers={**api.region, **XML})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
