"""LHEO import over HTTP: valid file, re-import, broken elements, XML bombs; parser unit tests."""

from pathlib import Path

import pytest
from pacte_common.contracts.sessions import SessionPublished, SessionUpdated
from pacte_common.events import Topics
from pacte_common.testing import read_topic
from sessions.domain.lheo import LheoFileRefused, parse

DATA = Path(__file__).parent / "data"
SAMPLE = (DATA / "offre-pays-de-la-loire.lheo.xml").read_bytes()
BROKEN = (DATA / "offre-avec-erreurs.lheo.xml").read_bytes()
XML = {"Content-Type": "application/xml"}
DEPARTEMENTS = frozenset({"44", "49", "53", "72", "85"})

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
<lheo><offres><formation><intitule-formation>&lol9;</intitule-formation></formation></offres></lheo>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE lheo [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<lheo><offres><formation><intitule-formation>&secret;</intitule-formation></formation></offres></lheo>"""


async def seed_programmes(api):
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("VISA-METIERS", "visa"))
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("PREPA-CLES", "prepa", remuneration_approved=False))


async def test_import_then_reimport_changes_nothing(api):
    await seed_programmes(api)
    report = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=SAMPLE)
    assert report["counts"] == {"created": 7, "updated": 0, "unchanged": 0, "rejected": 0}
    assert sorted(i["lheo_id"] for i in report["created"] if i["kind"] == "session") == [
        "S-2026-0001-A", "S-2026-0001-B", "S-2026-0001-LAVAL-ESP", "S-2026-0002-ANGERS",
    ]

    sessions = (await api.ok("GET", "/sessions", api.region))["items"]
    nantes = next(s for s in sessions if s["lheo_id"] == "S-2026-0001-A")
    assert nantes["organisation_siret"] == "12345678900015"
    assert nantes["programme"]["code"] == "VISA-METIERS" and nantes["programme"]["remuneration_approved"] is True
    assert (nantes["start_date"], nantes["end_date"], nantes["places"]) == ("2026-01-05", "2026-06-26", 12)
    assert (nantes["hours_in_centre"], nantes["hours_in_company"], nantes["hourly_price"]) == ("400.00", "140.00", "12.50")
    assert nantes["rncp_code"] == "RNCP34174" and nantes["formacode"] == "42811" and nantes["certifying"] is True
    assert nantes["information_meetings"] == ["2025-12-09", "2025-12-16"] and nantes["recruitment_state"] == "open"
    laval = next(s for s in sessions if s["lheo_id"] == "S-2026-0001-LAVAL-ESP")
    assert laval["permanent_entries"] is True and laval["weekly_hours"] == "24.00" and laval["departement"] == "53"
    assert next(s for s in sessions if s["lheo_id"] == "S-2026-0001-B")["recruitment_state"] == "closed"

    again = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=SAMPLE)
    assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 7, "rejected": 0}

    # One session's places change: that session alone is updated and republished.
    changed = SAMPLE.replace(b'<extra info="nombre-places">12</extra>', b'<extra info="nombre-places">14</extra>')
    third = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=changed)
    assert third["counts"] == {"created": 0, "updated": 1, "unchanged": 6, "rejected": 0}
    assert third["updated"][0]["lheo_id"] == "S-2026-0001-A"

    events = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=5)
    assert [type(e.data) for e in events].count(SessionPublished) == 4
    updates = [e for e in events if isinstance(e.data, SessionUpdated)]
    assert len(updates) == 1 and updates[0].data.session.places == 14
    assert len(events) == 5  # the identical re-import published nothing


async def test_broken_elements_are_reported_and_the_rest_imported(api):
    await seed_programmes(api)
    report = await api.ok("POST", "/catalogue/lheo", {**api.region, **XML}, content=BROKEN)
    assert [(i["kind"], i["lheo_id"]) for i in report["created"]] == [("action", "A-ERR-GOOD"), ("session", "S-ERR-GOOD")]
    rejected = {r["path"]: r["reason"] for r in report["rejected"]}
    assert set(rejected) == {
        "/lheo/offres/formation[1]/action[1]/session[2]",
        "/lheo/offres/formation[1]/action[1]/session[3]",
        "/lheo/offres/formation[1]/action[2]",
        "/lheo/offres/formation[1]/action[3]",
        "/lheo/offres/formation[1]/action[4]",
        "/lheo/offres/formation[2]/action[1]",
    }
    assert "periode/fin" in rejected["/lheo/offres/formation[1]/action[1]/session[2]"]
    assert "nombre-places" in rejected["/lheo/offres/formation[1]/action[1]/session[3]"]
    assert "prix-horaire-TTC" in rejected["/lheo/offres/formation[1]/action[2]"]
    assert "département" in rejected["/lheo/offres/formation[1]/action[3]"]
    assert "UNKNOWN-PROGRAMME" in rejected["/lheo/offres/formation[1]/action[4]"]
    assert "SIRET" in rejected["/lheo/offres/formation[2]/action[1]"]
    assert len((await api.ok("GET", "/sessions", api.region))["items"]) == 1


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, b"<lheo><offres>", b"<catalogue/>"], ids=["bomb", "xxe", "truncated", "wrong-root"])
async def test_dangerous_or_unreadable_files_are_refused_whole(api, payload):
    await seed_programmes(api)
    response = await api.client.post("/catalogue/lheo", content=payload, headers={**api.region, **XML})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "body"
    assert (await api.ok("GET", "/sessions", api.region))["items"] == []


async def test_only_the_region_imports(api):
    response = await api.client.post("/catalogue/lheo", content=SAMPLE, headers={**api.org, **XML})
    assert response.status_code == 403
    assert (await api.client.post("/catalogue/lheo", content=SAMPLE, headers=XML)).status_code == 401


def test_parser_refuses_entity_expansion_without_expanding():
    with pytest.raises(LheoFileRefused, match="forbidden XML constructs"):
        parse(BILLION_LAUGHS, default_programme="X", departements=DEPARTEMENTS)


def test_parser_reads_the_sample():
    offer = parse(SAMPLE, default_programme=None, departements=DEPARTEMENTS)
    assert offer.rejections == []
    nantes = offer.actions[0]
    assert nantes.skill_blocks == ("RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03")
    assert nantes.modules == ("cléa", "module-remise-a-niveau")
    assert nantes.territory_code == "TS-44-NANTES" and not nantes.part_time
    assert offer.actions[1].part_time and offer.actions[1].distance_learning
    assert offer.actions[2].programme_code == "PREPA-CLES"
