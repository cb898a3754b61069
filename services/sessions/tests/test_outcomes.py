"""Post-training outcomes over HTTP: imports (CSV, JSON), declarations, purge after retention, and
the published events against the AsyncAPI catalogue. The result indicators and trajectories are
insights' (services/insights/tests/test_results.py, test_trajectory.py)."""

import csv
import io
import json
from datetime import date

from jsonschema import Draft202012Validator
from pacte_common.asyncapi import build_asyncapi, payload_schema
from pacte_common.contracts.outcomes import OutcomeRecorded
from pacte_common.events import Topics
from pacte_testing import new_nir, read_topic

AS_OF = date(2026, 11, 30)
UNKNOWN_NIR = new_nir("1", "88", "07", "49")


async def trainee(api, session_id, *, exit_date=None, headers=None, nir=None, entry="2026-01-05", **profile) -> dict:
    """A file entered on `entry` and, with `exit_date`, exited then (completed)."""
    headers = headers or api.org
    dossier = await api.enrol(session_id, headers=headers, profile=api.profile_body(**profile), nir=nir)
    await api.act(dossier["id"], "enter", {"entry_date": entry}, headers=headers)
    if exit_date:
        dossier = await api.act(dossier["id"], "exit", {"exit_date": exit_date, "kind": "completed"}, headers=headers)
    return dossier


def as_csv(rows: list[dict], delimiter=";") -> str:
    columns = ["dossier_id", "nir", "horizon_months", "situation", "observed_on", "job_related_to_training"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{c: row.get(c, "") for c in columns} for row in rows])
    return buffer.getvalue()


async def import_csv(api, text: str, expected: int, **params):
    headers = {**api.region, "Content-Type": "text/csv"}
    response = await api.client.post("/outcomes/imports", params=params, content=text.encode(), headers=headers)
    assert response.status_code == expected, response.text
    return response.json()


async def outcomes(api, dossier_id) -> list[dict]:
    return await api.ok("GET", f"/dossiers/{dossier_id}/outcomes", api.region)


async def test_csv_import_reports_each_line_and_writes_nothing_when_a_line_is_malformed(api):
    api.clock.today = AS_OF
    session = await api.catalogue()
    nir = new_nir("2", "91", "04", "44")
    by_nir = await trainee(api, session["id"], exit_date="2026-03-27", nir=nir)
    by_id = await trainee(api, session["id"], exit_date="2026-04-10")
    still_in = await trainee(api, session["id"])
    rows = [
        {"nir": nir, "horizon_months": "6", "situation": "permanent_job", "observed_on": "2026-09-28", "job_related_to_training": "oui"},
        {"dossier_id": by_id["id"], "horizon_months": "6", "situation": "training", "observed_on": "2026-10-12"},
        {"nir": UNKNOWN_NIR, "horizon_months": "6", "situation": "job_seeking", "observed_on": "2026-10-01"},
        {"dossier_id": still_in["id"], "horizon_months": "3", "situation": "inactive", "observed_on": "2026-10-01"},
        {"dossier_id": by_id["id"], "horizon_months": "6", "situation": "training", "observed_on": "2026-10-12"},  # same as line 2
        {"dossier_id": by_id["id"], "horizon_months": "9", "situation": "employed", "observed_on": "2026-13-01"},
    ]
    refused = await import_csv(api, as_csv(rows), 409)  # any text is a CSV body: its content is refused
    assert {e["field"] for e in refused["errors"]} == {"line[6].horizon_months", "line[6].situation", "line[6].observed_on"}
    assert refused["type"].endswith("/outcome-import-refused")
    assert refused["report"]["counts"]["malformed"] == 1 and refused["report"]["counts"]["unmatched"] == 2
    assert nir not in json.dumps(refused)
    assert await outcomes(api, by_nir["id"]) == [] and await outcomes(api, by_id["id"]) == []  # nothing half-imported

    report = await import_csv(api, as_csv(rows[:5]), 201)
    statuses = {line["line"]: (line["status"], line.get("reason")) for line in report["lines"]}
    assert statuses == {
        1: ("created", None),
        2: ("created", None),
        3: ("unmatched", "no training file for this NIR"),
        4: ("unmatched", "the training file has no exit yet"),
        5: ("duplicate", "same as line 2"),
    }
    assert report["counts"] | {} == {"created": 2, "updated": 0, "unchanged": 0, "unmatched": 2, "duplicate": 1, "malformed": 0,
                                     "inconsistent": 0, "matched": 2, "lines": 5}
    assert report["lines"][0]["dossier_id"] == by_nir["id"] and nir not in json.dumps(report)
    [recorded] = await outcomes(api, by_nir["id"])
    assert (recorded["situation"], recorded["situation_label"], recorded["source"], recorded["job_related_to_training"]) == (
        "permanent_job", "Emploi durable : CDI", "survey", True)

    again = await import_csv(api, as_csv(rows[:5], delimiter=","), 201)  # idempotent, whatever the separator
    assert again["counts"]["unchanged"] == 2 and again["counts"]["created"] == 0
    corrected = [{**rows[1], "situation": "fixed_term_6_months_plus", "job_related_to_training": "non"}]
    assert (await import_csv(api, as_csv(corrected), 201))["counts"]["updated"] == 1
    [fixed] = await outcomes(api, by_id["id"])
    assert (fixed["situation"], fixed["version"], fixed["job_related_to_training"]) == ("fixed_term_6_months_plus", 2, False)

    contradicting = [rows[1], {**rows[1], "situation": "inactive"}]  # well-formed, but the file cannot mean both: 409
    conflict = await import_csv(api, as_csv(contradicting), 409)
    assert conflict["errors"] == [{"field": "line[2].line", "message": "contradicts line 1 for the same training file and horizon"}]
    assert conflict["type"].endswith("/outcome-import-refused") and conflict["report"]["counts"]["inconsistent"] == 1
    dry = await import_csv(api, as_csv([{**rows[0], "situation": "inactive"}]), 200, dry_run="true")
    assert dry["dry_run"] and dry["import_id"] is None and dry["counts"]["updated"] == 1
    assert (await outcomes(api, by_nir["id"]))[0]["situation"] == "permanent_job"  # the dry run wrote nothing

    # Three events (two created, one corrected), each valid against the catalogue, no NIR.
    events = [e for e in await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=12) if isinstance(e.data, OutcomeRecorded)]
    assert sorted((str(e.data.dossier_id), e.data.version) for e in events) == sorted([(by_nir["id"], 1), (by_id["id"], 1), (by_id["id"], 2)])
    schema = payload_schema(build_asyncapi(), OutcomeRecorded.event_type)
    for event in events:
        Draft202012Validator(schema).validate(json.loads(event.body()))
        assert event.subject == str(event.data.dossier_id) and nir not in event.body().decode()


async def test_json_import_by_france_travail_and_refusals(api):
    api.clock.today = AS_OF
    session = await api.catalogue()
    dossier = await trainee(api, session["id"], exit_date="2026-03-27")
    body = {"lines": [{"dossier_id": dossier["id"], "horizon_months": 3, "situation": "job_seeking", "observed_on": "2026-06-29"}]}
    report = await api.ok("POST", "/outcomes/imports?source=france_travail", api.region, 201, json=body)
    assert report["source"] == "france_travail" and report["counts"]["created"] == 1
    assert (await outcomes(api, dossier["id"]))[0]["source_label"] == "Données France Travail"

    org_try = await api.client.post("/outcomes/imports", json=body, headers=api.org)
    assert org_try.status_code == 403
    xml = await api.client.post("/outcomes/imports", content=b"<x/>", headers={**api.region, "Content-Type": "application/xml"})
    assert xml.status_code == 415 and xml.headers["content-type"].startswith("application/problem+json")
    empty = await api.client.post("/outcomes/imports", json={"lines": []}, headers=api.region)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body.lines"
    future = {"lines": [{**body["lines"][0], "observed_on": "2027-01-04"}]}  # well-formed; the calendar refuses it
    refused = await api.client.post("/outcomes/imports", json=future, headers=api.region)
    assert refused.status_code == 409 and refused.json()["errors"] == [{"field": "line[1].observed_on", "message": "is after today"}]
    strict = {"lines": [{**body["lines"][0], "horizon_months": "3", "job_related_to_training": "oui", "nir": "185054410912399"}]}
    response = await api.client.post("/outcomes/imports", json=strict, headers=api.region)  # JSON is read as its schema says
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"line[1].horizon_months", "line[1].job_related_to_training"}
    wrong_key = {"lines": [{**body["lines"][0], "nir": "185054410912399"}]}  # the NIR's form is right, its key is not
    response = await api.client.post("/outcomes/imports", json=wrong_key, headers=api.region)
    assert response.status_code == 409 and response.json()["errors"] == [{"field": "line[1].nir", "message": "NIR control key does not match"}]
    assert "185054410912399" not in response.text
    nul = await api.client.post("/outcomes/imports", content=b"dossier_id;situation\n\x00;x\n", headers={**api.region, "Content-Type": "text/csv"})
    assert nul.status_code == 409 and nul.json()["errors"][0]["field"] == "line[1].dossier_id"
    empty_csv = await api.client.post("/outcomes/imports", content=b"", headers={**api.region, "Content-Type": "text/csv"})
    assert empty_csv.status_code == 409 and empty_csv.json()["errors"][0]["field"] == "body"
    latin1 = await api.client.post("/outcomes/imports", content="dossier_id;situation\né;x\n".encode("latin-1"), headers={**api.region, "Content-Type": "text/csv"})
    not_json = await api.client.post("/outcomes/imports", content=b"{lines", headers={**api.region, "Content-Type": "application/json"})
    assert latin1.status_code == 400 and not_json.status_code == 400
    for odd in ({"lines": "x"}, 5, [1, None], {"lines": [{"dossier_id": {"a": 1}, "horizon_months": True, "observed_on": 20260101}]}):
        response = await api.client.post("/outcomes/imports", json=odd, headers=api.region)
        assert response.status_code == 422, (odd, response.text)
    bad_source = await api.client.post("/outcomes/imports?source=training_organisation", json=body, headers=api.region)
    assert bad_source.status_code == 422 and bad_source.json()["errors"][0]["field"] == "query.source"


async def test_a_training_organisation_declares_for_its_own_trainees(api):
    api.clock.today = AS_OF
    session = await api.catalogue()
    exited = await trainee(api, session["id"], exit_date="2026-03-27")
    in_training = await trainee(api, session["id"])
    declaration = {"horizon_months": 6, "situation": "permanent_job", "observed_on": "2026-10-01", "job_related_to_training": True}
    url = f"/dossiers/{exited['id']}/outcomes"
    created = await api.ok("POST", url, api.org, 201, json=declaration)
    assert (created["source"], created["version"]) == ("training_organisation", 1)
    assert (await api.ok("POST", url, api.org, 200, json=declaration))["version"] == 1  # the same again: unchanged
    cases = [
        (api.as_("training_org", api.SIRET_B), url, declaration, 404),
        (api.as_("prescriber", api.PRESCRIBER), url, declaration, 403),
        (api.region, url, declaration, 403),
        (api.org, f"/dossiers/{in_training['id']}/outcomes", declaration, 409),
        (api.org, url, {**declaration, "observed_on": "2026-03-01"}, 409),
        (api.org, url, {**declaration, "horizon_months": 9}, 422),
    ]
    for headers, target, body, expected in cases:
        response = await api.client.post(target, json=body, headers=headers)
        assert response.status_code == expected, (target, body, response.text)
    before_exit = await api.client.post(url, json={**declaration, "observed_on": "2026-03-01"}, headers=api.org)
    assert before_exit.json()["field"] == "body.observed_on" and before_exit.json()["type"].endswith("/outcome-date-refused")
    assert len(await api.ok("GET", url, api.org)) == 1
    assert (await api.client.get(url, headers=api.as_("training_org", api.SIRET_B))).status_code == 404


async def test_purge_removes_outcomes_past_retention(api):
    api.clock.today = AS_OF
    session = await api.catalogue(start=date(2023, 1, 9), end=date(2023, 6, 30))
    old = await trainee(api, session["id"], entry="2023-01-09", exit_date="2023-06-30")
    lines = [
        {"dossier_id": old["id"], "horizon_months": 3, "situation": "job_seeking", "observed_on": "2023-09-29"},
        {"dossier_id": old["id"], "horizon_months": 12, "situation": "permanent_job", "observed_on": "2024-06-28"},
    ]
    await api.ok("POST", "/outcomes/imports", api.region, 201, json={"lines": lines})
    assert (await api.client.post("/outcomes/purge", headers=api.org)).status_code == 403
    # Retention 36 months (the default): on 30 November 2026, what was observed before 30 November 2023 goes.
    report = await api.ok("POST", "/outcomes/purge", api.region)
    assert report == {"cutoff": "2023-11-30", "outcomes_deleted": 1, "trajectory_reads_deleted": 0}
    assert [o["horizon_months"] for o in await outcomes(api, old["id"])] == [12]
    api.clock.today = date(2027, 6, 29)
    assert (await api.ok("POST", "/outcomes/purge", api.region))["outcomes_deleted"] == 1
    assert await outcomes(api, old["id"]) == []
    assert (await api.ok("POST", "/outcomes/purge", api.region))["outcomes_deleted"] == 0


async def test_situations_are_listed_with_french_labels(api):
    situations = {s["code"]: s for s in await api.ok("GET", "/outcomes/situations", api.region)}
    assert len(situations) == 8 and situations["training"]["label"] == "En formation"
    assert situations["fixed_term_6_months_plus"]["lasting_job"] and not situations["short_fixed_term_or_temporary"]["lasting_job"]


async def test_every_status_of_the_outcome_routes_is_in_openapi(api):
    paths = (await api.ok("GET", "/openapi.json", {}))["paths"]
    documented = {
        ("post", "/outcomes/imports"): {"200", "201", "400", "401", "403", "409", "413", "415", "422"},
        ("post", "/dossiers/{dossier_id}/outcomes"): {"200", "201", "401", "403", "404", "409", "422"},
        ("post", "/outcomes/purge"): {"200", "401", "403"},
    }
    for (method, path), statuses in documented.items():
        assert statuses <= set(paths[path][method]["responses"]), (method, path, sorted(paths[path][method]["responses"]))
    assert not {"/indicators/results", "/people/{person_id}/trajectory"} & set(paths)  # insights' (docs/insights.md)
