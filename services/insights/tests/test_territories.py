"""Indicators filtered and compared by territory: sessions places each session in the Region's
table (docs/territories.md) and says so in its events; insights filters and compares by it."""


async def _session_without_known_territory(api) -> dict:
    """A session in 49 whose action names a territory code the table does not know."""
    action = await api.ok("POST", "/actions", api.region, 201,
                          json={
        "programme_code": "VISA-METIERS", "organisation_siret": api.SIRET_B, "title": "Agent de propreté", "certifying": True,
        "hours_in_centre": "400", "hours_in_company": "0", "hourly_price": "12.50", "departement": "49",
        "territory_code": "NOT-A-TERRITORY"})
    return await api.ok("POST", "/sessions", api.region, 201, json={
        "action_id": action["id"], "start_date": "2026-01-05", "end_date": "2026-06-26", "places": 5, "permanent_entries": False})


async def test_sessions_take_their_territory_and_indicators_filter_and_compare(sessions, insights):
    await sessions.ok("PUT", "/territories", sessions.region, 201, json={
        "source": "test fixture", "territories": [
            {"code": "TS-44-NANTES", "name": "Nantes test", "departement": "44", "places": [{"postcode": "44000"}]},
            {"code": "T-ANGERS", "name": "Angers test", "departement": "49", "places": [{"postcode": "49000"}]},
        ]})
    # The action's territory_code (TS-44-NANTES, conftest) is a known territory: the session takes it.
    nantes = await sessions.catalogue(places=10)
    angers = await _session_without_known_territory(sessions)
    org_b = sessions.as_("training_org", sessions.SIRET_B)
    for session, headers in ((nantes, sessions.org), (nantes, sessions.org), (angers, org_b)):
        dossier = await sessions.enrol(session["id"], headers=headers)
        await sessions.act(dossier["id"], "enter", {"entry_date": "2026-01-05"}, headers=headers)

    await insights.until("/indicators", insights.region, lambda body: body["all"]["entries"] == 3, "the entries reached insights")
    in_nantes = await insights.ok("GET", "/indicators?territory=TS-44-NANTES", insights.region)
    assert in_nantes["all"]["entries"] == 2 and in_nantes["filters"]["territory"] == "TS-44-NANTES"
    assert in_nantes["all"]["places_filled_rate"]["denominator"] == 10
    compared = await insights.ok("GET", "/indicators?compare=territory", insights.region)
    rows = {r["key"]: r for r in compared["compare"]["rows"]}
    assert rows[None]["entries"] == 1  # the Angers action names no known territory, has no training place
    assert rows["TS-44-NANTES"]["entries"] == 2 and rows["TS-44-NANTES"]["places_offered"] == 10
    by_departement = await insights.ok("GET", "/indicators?compare=departement", insights.region)
    assert {r["key"]: r["entries"] for r in by_departement["compare"]["rows"]} == {"44": 2, "49": 1}
    bad = await insights.client.get("/indicators?compare=canton", headers=insights.region)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.compare"
