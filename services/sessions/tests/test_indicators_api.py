"""GET /indicators over HTTP: filters, breakdown by sex, CSV, against a dataset worked by hand."""

import csv
import io
from datetime import date


async def test_indicators_with_filters_and_csv(api):
    visa_44 = await api.catalogue(programme_code="VISA-METIERS", pillar="visa", places=4)
    prepa_49 = await api.catalogue(programme_code="PREPA-AVENIR", pillar="prepa", places=6, departement="49",
                                   start=date(2026, 1, 5), end=date(2026, 3, 27), siret=api.SIRET_B)
    org_b = api.as_("training_org", api.SIRET_B)

    # PRÉPA (49): a man, 30, drops out for a job; a woman, 22, completes and goes on to VISA.
    man = await api.enrol(prepa_49["id"], headers=org_b, profile=api.profile_body(sex="M", birth_date="1995-06-01", education_level="iv", qpv=False))
    woman = await api.enrol(prepa_49["id"], headers=org_b, profile=api.profile_body(sex="F", birth_date="2003-09-09", education_level="below_v"), nir=api.NIR)
    for dossier in (man, woman):
        await api.act(dossier["id"], "enter", {"entry_date": "2026-01-05"}, headers=org_b)
    await api.act(man["id"], "exit", {"exit_date": "2026-02-13", "kind": "dropout", "dropout_reason": "employment"}, headers=org_b)
    await api.act(woman["id"], "exit", {"exit_date": "2026-03-27", "kind": "completed"}, headers=org_b)
    # VISA (44): the same woman (found by her NIR), entering after her PRÉPA exit; a disabled man of 55.
    again = await api.enrol(visa_44["id"], profile=api.profile_body(sex="F", birth_date="2003-09-09", education_level="below_v"), nir=api.NIR)
    assert again["person_id"] == woman["person_id"]
    senior = await api.enrol(visa_44["id"], profile=api.profile_body(sex="M", birth_date="1970-11-20", education_level="iii_and_above", disabled_worker=True, qpv=False))
    await api.act(again["id"], "enter", {"entry_date": "2026-04-06"})
    await api.act(senior["id"], "enter", {"entry_date": "2026-01-05"})

    everyone = (await api.ok("GET", "/indicators?from=2026-01-01&to=2026-12-31", api.region))["all"]
    assert everyone["entries"] == 4
    assert everyone["disabled_workers_share"] == {"numerator": 1, "denominator": 4, "value": 0.25, "target": 0.15, "meets_target": True}
    assert everyone["seniors_share"]["numerator"] == 1 and everyone["under_26_share"]["numerator"] == 2
    assert everyone["low_qualified_share"]["numerator"] == 3
    assert everyone["places_filled_rate"] == {"numerator": 4, "denominator": 10, "value": 0.4}
    assert everyone["dropout_rate"] == {"numerator": 1, "denominator": 2, "value": 0.5}
    assert everyone["dropout_for_job_rate"] == {"numerator": 1, "denominator": 2, "value": 0.5}
    # 5 Jan - 13 Feb = 40 days, 5 Jan - 27 Mar = 82 days
    assert everyone["average_realised_duration_days"] == {"total": 122, "count": 2, "value": 61.0}
    assert everyone["visa_access_after_prepa_rate"] == {"numerator": 1, "denominator": 2, "value": 0.5}

    prepa = await api.ok("GET", "/indicators?programme=PREPA-AVENIR", api.region)
    assert prepa["all"]["entries"] == 2 and prepa["by_sex"]["M"]["dropout_for_job_rate"]["value"] == 1.0
    assert prepa["all"]["visa_access_after_prepa_rate"]["value"] == 0.5  # the VISA entry is found outside the filter
    in_44 = await api.ok("GET", "/indicators?departement=44", api.region)
    assert in_44["all"]["entries"] == 2 and in_44["all"]["dropout_rate"]["value"] is None
    february = await api.ok("GET", "/indicators?from=2026-02-01&to=2026-02-28", api.region)
    assert february["all"]["entries"] == 0 and february["all"]["dropout_rate"]["numerator"] == 1
    own = await api.ok("GET", "/indicators", org_b)  # an organisation sees its own
    assert own["all"]["entries"] == 2 and own["filters"]["organisation"] == api.SIRET_B

    response = await api.client.get("/indicators?from=2026-01-01&to=2026-12-31", headers={**api.region, "Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_key = {(r["scope"], r["indicator"]): r for r in rows}
    assert by_key[("all", "entries")]["value"] == "4"
    assert by_key[("all", "disabled_workers_share")]["value"] == "0.2500" and by_key[("all", "disabled_workers_share")]["target"] == "0.15"
    assert by_key[("sex:F", "entries")]["value"] == "2" and by_key[("sex:M", "seniors_share")]["value"] == "0.5000"

    bad = await api.client.get("/indicators?from=2026-12-31&to=2026-01-01", headers=api.region)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.to"


async def test_input_that_would_fail_in_the_database_is_a_422_naming_the_field(api):
    """NUL characters (PostgreSQL cannot store or compare them), JSON nested 5,000 deep, full-width
    digits where ASCII ones are meant: 4xx naming the field, never a 500 (both databases)."""
    nul = await api.client.get("/indicators?territory=T%0044", headers=api.region)
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "query.territory", nul.text
    named = await api.client.get("/programmes?q=%00", headers=api.region)
    assert named.status_code == 422 and named.json()["errors"][0]["field"] == "query.q", named.text
    body = {**api.programme_body(), "name": "Agent\u0000"}
    created = await api.client.post("/programmes", json=body, headers=api.region)
    assert created.status_code == 422 and created.json()["errors"][0]["field"] == "body.name", created.text
    deep = await api.client.post("/outcomes/imports", content="[" * 5000 + "]" * 5000, headers={**api.region, "Content-Type": "application/json"})
    assert deep.status_code == 422 and deep.json()["errors"][0]["field"] == "body", deep.text
    full_width = await api.client.put("/dossiers/00000000-0000-4000-8000-000000000000/attendance/２０２６-01", json={}, headers=api.org)
    assert full_width.status_code == 422 and full_width.json()["errors"][0]["field"] == "path.month", full_width.text


async def test_reports_and_the_public_export_have_a_budget_per_client(api_with):
    """Past its budget a client gets 429 with Retry-After on the reports and the public LHEO export,
    while the other clients and the light routes are served (docs/security.md, "Fair share")."""
    async with api_with(rate_limits={"reports": "2/minute", "public": "2/minute", "signing": "2/minute"}) as api:
        client = api.client
        # One budget for every report: two indicators, then the results are refused.
        assert [(await client.get("/indicators", headers=api.region)).status_code for _ in range(2)] == [200, 200]
        assert (await client.get("/indicators/results", headers=api.region)).status_code == 429
        assert [(await client.get("/catalogue/lheo")).status_code for _ in range(3)] == [200, 200, 429]  # public
        refused = await client.get("/indicators", headers=api.region)
        assert int(refused.headers["retry-after"]) >= 1 and refused.json()["bucket"] == "reports"
        assert (await client.get("/indicators", headers=api.org)).status_code == 200  # another client
        assert (await client.get("/programmes", headers=api.region)).status_code == 200  # not a report


async def test_no_route_answers_hostile_input_with_a_5xx(api):
    from pacte_testing import assert_no_5xx_from_hostile_input

    assert await assert_no_5xx_from_hostile_input(api.client, api.settings) > 100
