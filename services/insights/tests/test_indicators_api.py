"""GET /indicators over HTTP, served by insights from the events sessions publishes: filters,
breakdown by sex, CSV, against a dataset worked by hand; input that would fail in the database."""

import csv
import io
from datetime import date


async def test_indicators_with_filters_and_csv(sessions, insights):
    visa_44 = await sessions.catalogue(programme_code="VISA-METIERS", pillar="visa", places=4)
    prepa_49 = await sessions.catalogue(programme_code="PREPA-AVENIR", pillar="prepa", places=6, departement="49",
                                   start=date(2026, 1, 5), end=date(2026, 3, 27), siret=sessions.SIRET_B)
    org_b = sessions.as_("training_org", sessions.SIRET_B)

    # PRÉPA (49): a man, 30, drops out for a job; a woman, 22, completes and goes on to VISA.
    man = await sessions.enrol(prepa_49["id"], headers=org_b, profile=sessions.profile_body(sex="M", birth_date="1995-06-01", education_level="iv", qpv=False))
    woman = await sessions.enrol(prepa_49["id"], headers=org_b, profile=sessions.profile_body(sex="F", birth_date="2003-09-09", education_level="below_v"), nir=sessions.NIR)
    for dossier in (man, woman):
        await sessions.act(dossier["id"], "enter", {"entry_date": "2026-01-05"}, headers=org_b)
    await sessions.act(man["id"], "exit", {"exit_date": "2026-02-13", "kind": "dropout", "dropout_reason": "employment"}, headers=org_b)
    await sessions.act(woman["id"], "exit", {"exit_date": "2026-03-27", "kind": "completed"}, headers=org_b)
    # VISA (44): the same woman (found by her NIR), entering after her PRÉPA exit; a disabled man of 55.
    again = await sessions.enrol(visa_44["id"], profile=sessions.profile_body(sex="F", birth_date="2003-09-09", education_level="below_v"), nir=sessions.NIR)
    assert again["person_id"] == woman["person_id"]
    senior = await sessions.enrol(visa_44["id"], profile=sessions.profile_body(sex="M", birth_date="1970-11-20", education_level="iii_and_above", disabled_worker=True, qpv=False))
    await sessions.act(again["id"], "enter", {"entry_date": "2026-04-06"})
    await sessions.act(senior["id"], "enter", {"entry_date": "2026-01-05"})

    # the read side catches up: four entries and both exits heard (a deadline, no sleep)
    everyone = (await insights.until("/indicators?from=2026-01-01&to=2026-12-31", insights.region,
                                     lambda body: body["all"]["entries"] == 4 and body["all"]["dropout_rate"]["denominator"] == 2,
                                     "the files' events reached insights"))["all"]
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

    prepa = await insights.ok("GET", "/indicators?programme=PREPA-AVENIR", insights.region)
    assert prepa["all"]["entries"] == 2 and prepa["by_sex"]["M"]["dropout_for_job_rate"]["value"] == 1.0
    assert prepa["all"]["visa_access_after_prepa_rate"]["value"] == 0.5  # the VISA entry is found outside the filter
    in_44 = await insights.ok("GET", "/indicators?departement=44", insights.region)
    assert in_44["all"]["entries"] == 2 and in_44["all"]["dropout_rate"]["value"] is None
    february = await insights.ok("GET", "/indicators?from=2026-02-01&to=2026-02-28", insights.region)
    assert february["all"]["entries"] == 0 and february["all"]["dropout_rate"]["numerator"] == 1
    own = await insights.ok("GET", "/indicators", insights.as_("training_org", insights.SIRET_B))  # an organisation sees its own
    assert own["all"]["entries"] == 2 and own["filters"]["organisation"] == sessions.SIRET_B

    response = await insights.client.get("/indicators?from=2026-01-01&to=2026-12-31", headers={**insights.region, "Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_key = {(r["scope"], r["indicator"]): r for r in rows}
    assert by_key[("all", "entries")]["value"] == "4"
    assert by_key[("all", "disabled_workers_share")]["value"] == "0.2500" and by_key[("all", "disabled_workers_share")]["target"] == "0.15"
    assert by_key[("sex:F", "entries")]["value"] == "2" and by_key[("sex:M", "seniors_share")]["value"] == "0.5000"

    bad = await insights.client.get("/indicators?from=2026-12-31&to=2026-01-01", headers=insights.region)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.to"


async def test_input_that_would_fail_in_the_database_is_a_422_naming_the_field(insights):
    """A NUL character (PostgreSQL cannot store or compare it): a 422 naming the field, never a 500."""
    nul = await insights.client.get("/indicators?territory=T%0044", headers=insights.region)
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "query.territory", nul.text


async def test_only_the_region_and_organisations_read_and_reports_have_a_budget(database_url, bus_settings):
    """A prescriber is refused; past its budget a client gets 429 with Retry-After (docs/security.md, "Fair share")."""
    from insights.main import create_app
    from insights.settings import InsightsSettings
    from pacte_testing import auth_header, running

    settings = InsightsSettings(database_url=database_url, bus=bus_settings, consume=False, rate_limits={"reports": "2/minute", "public": "60/minute", "signing": "60/minute"})
    async with running(create_app(settings)) as client:
        region = auth_header(settings, "region", "region")
        assert (await client.get("/indicators", headers=auth_header(settings, "prescriber", "PE-44001"))).status_code == 403
        assert [(await client.get("/indicators", headers=region)).status_code for _ in range(3)] == [200, 200, 429]
        refused = await client.get("/indicators", headers=region)
        assert int(refused.headers["retry-after"]) >= 1 and refused.json()["bucket"] == "reports"
        # One budget for every report: the result indicators are refused too, while another client is served.
        assert (await client.get("/indicators/results", headers=region)).status_code == 429
        other = auth_header(settings, "training_org", "12345678900015")
        assert (await client.get("/indicators/results", headers=other)).status_code == 200
        # NUL characters (PostgreSQL cannot store or compare them): 422 naming the field, never a 500.
        nul = await client.get("/indicators/results?territory=T%0044", headers=other)
        assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "query.territory", nul.text
