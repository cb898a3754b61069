"""Territories: a versioned reference table edited by the Region; sessions placed in it;
its territory in the session's events."""

VERSION_1 = {
    "source": "test fixture (not the Region's list)",
    "territories": [
        {"code": "T-NANTES", "name": "Nantes test", "departement": "44",
         "places": [{"postcode": "44000", "commune_name": "Nantes", "commune_insee": "44109"}]},
        {"code": "T-ANGERS", "name": "Angers test", "departement": "49",
         "places": [{"postcode": "49000", "commune_name": "Angers"}]},
    ],
}


async def _session_without_known_territory(api) -> dict:
    """A session in 49 whose action names a territory code the table does not know."""
    action = await api.ok("POST", "/actions", api.region, 201,
                          json=api.action_body("VISA-METIERS", api.SIRET_B, departement="49", territory_code="NOT-A-TERRITORY"))
    return await api.ok("POST", "/sessions", api.region, 201, json={
        "action_id": action["id"], "start_date": "2026-01-05", "end_date": "2026-06-26", "places": 5, "permanent_entries": False})


async def test_versions_replace_and_keep(api):
    first = await api.ok("PUT", "/territories", api.region, 201, json=VERSION_1)
    assert first["version"] == 1 and first["current"] is True
    assert [t["code"] for t in first["territories"]] == ["T-ANGERS", "T-NANTES"]
    second = await api.ok("PUT", "/territories", api.region, 201, json={**VERSION_1, "source": "v2", "territories": VERSION_1["territories"][:1]})
    assert second["version"] == 2
    current = await api.ok("GET", "/territories", api.org)
    assert current["version"] == 2 and [t["code"] for t in current["territories"]] == ["T-NANTES"]
    old = await api.ok("GET", "/territories/versions/1", api.org)
    assert old["current"] is False and len(old["territories"]) == 2
    listed = await api.ok("GET", "/territories/versions", api.region)
    assert [(v["version"], v["territories"]) for v in listed] == [(1, 2), (2, 1)]


async def test_only_the_region_edits_and_bad_versions_name_the_field(api):
    refused = await api.client.put("/territories", headers=api.org, json=VERSION_1)
    assert refused.status_code == 403
    twice = {"source": "x", "territories": [VERSION_1["territories"][0], VERSION_1["territories"][0]]}
    bad = await api.client.put("/territories", headers=api.region, json=twice)
    assert bad.status_code == 409 and bad.json()["field"] == "body.territories[1].code"
    nowhere = {"source": "x", "territories": [{"code": "T", "name": "T", "places": [{"commune_name": "Nantes"}]}]}
    bad = await api.client.put("/territories", headers=api.region, json=nowhere)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("body.territories.0.places.0")
    bad_postcode = {"source": "x", "territories": [{"code": "T", "name": "T", "places": [{"postcode": "4400"}]}]}
    bad = await api.client.put("/territories", headers=api.region, json=bad_postcode)
    assert bad.status_code == 422 and "postcode" in bad.json()["errors"][0]["field"]
    assert (await api.client.get("/territories", headers=api.region)).status_code == 404  # none published yet
    assert (await api.client.get("/territories/versions/7", headers=api.region)).status_code == 404


async def test_sessions_take_their_territory_and_say_it_in_their_events(api):
    """The session's territory rides on its catalogue events (insights filters and compares by it,
    services/insights/tests/test_territories.py)."""
    from pacte_common.events import Topics
    from pacte_testing import read_topic

    nantes = await api.catalogue(places=10)  # before the table: no territory yet
    await api.ok("PUT", "/territories", api.region, 201, json={
        "source": "test fixture", "territories": [
            {"code": "TS-44-NANTES", "name": "Nantes test", "departement": "44", "places": [{"postcode": "44000"}]}]})
    angers = await _session_without_known_territory(api)
    events = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=3)
    latest = {str(e.data.session.session_id): e.data for e in events}
    # the table placed the existing session (the action's territory_code, TS-44-NANTES, is known): published again
    assert latest[nantes["id"]].session.session_territory_code == "TS-44-NANTES"
    assert latest[nantes["id"]].event_type.endswith("session.updated.v1")
    assert latest[angers["id"]].session.session_territory_code is None  # a code the table does not know, no training place
