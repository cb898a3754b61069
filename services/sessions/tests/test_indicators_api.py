"""Input that would fail in the database, the public LHEO export's budget, no 5xx on hostile input.
The reports (the indicators, the result indicators) are insights' (services/insights/tests/test_indicators_api.py)."""

async def test_input_that_would_fail_in_the_database_is_a_422_naming_the_field(api):
    """NUL characters (PostgreSQL cannot store or compare them), JSON nested 5,000 deep, full-width
    digits where ASCII ones are meant: 4xx naming the field, never a 500 (both databases)."""
    named = await api.client.get("/programmes?q=%00", headers=api.region)
    assert named.status_code == 422 and named.json()["errors"][0]["field"] == "query.q", named.text
    body = {**api.programme_body(), "name": "Agent\u0000"}
    created = await api.client.post("/programmes", json=body, headers=api.region)
    assert created.status_code == 422 and created.json()["errors"][0]["field"] == "body.name", created.text
    deep = await api.client.post("/outcomes/imports", content="[" * 5000 + "]" * 5000, headers={**api.region, "Content-Type": "application/json"})
    assert deep.status_code == 422 and deep.json()["errors"][0]["field"] == "body", deep.text
    full_width = await api.client.put("/dossiers/00000000-0000-4000-8000-000000000000/attendance/２０２６-01", json={}, headers=api.org)
    assert full_width.status_code == 422 and full_width.json()["errors"][0]["field"] == "path.month", full_width.text


async def test_the_public_export_has_a_budget(api_with):
    """Past its budget a caller gets 429 with Retry-After on the public LHEO export, while the
    light routes are served (docs/security.md, "Fair share")."""
    async with api_with(rate_limits={"reports": "2/minute", "public": "2/minute", "signing": "2/minute"}) as api:
        client = api.client
        assert [(await client.get("/catalogue/lheo")).status_code for _ in range(3)] == [200, 200, 429]  # public
        refused = await client.get("/catalogue/lheo")
        assert int(refused.headers["retry-after"]) >= 1 and refused.json()["bucket"] == "public"
        assert (await client.get("/programmes", headers=api.region)).status_code == 200  # not a report


async def test_no_route_answers_hostile_input_with_a_5xx(api):
    from pacte_testing import assert_no_5xx_from_hostile_input

    assert await assert_no_5xx_from_hostile_input(api.client, api.settings) > 100
