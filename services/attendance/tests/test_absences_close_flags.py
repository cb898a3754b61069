"""Absences and lateness, the month's close (409 listing what is missing), fraud flags."""

from __future__ import annotations

import uuid
from datetime import date

from attendance.main import create_app
from pacte_common.auth import OrgKind
from pacte_testing import auth_header, new_siret, running


async def test_absences_need_a_coded_reason_and_a_proof(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await a.plan(session_id)
    alice = await a.enter(session_id, date(2026, 11, 2))
    url = f"/half-days/{half_days[0]['id']}/absences"
    no_reason = await a.client.post(url, headers=a.org, json={"dossier_id": str(alice), "justified": True, "proof_reference": "x"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "body.reason_code"
    no_proof = await a.client.post(url, headers=a.org, json={"dossier_id": str(alice), "justified": True, "reason_code": "sickness"})
    assert no_proof.status_code == 422 and no_proof.json()["errors"][0]["field"] == "body.proof_reference"
    unknown = await a.client.post(url, headers=a.org, json={"dossier_id": str(alice), "justified": True, "reason_code": "holiday", "proof_reference": "x"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.reason_code"
    ok = await a.client.post(url, headers=a.org, json={"dossier_id": str(alice), "justified": True, "reason_code": "sickness",
                                                       "proof_reference": "arrêt de travail n° 2026-118"})
    assert ok.status_code == 201 and ok.json()["justified"]
    reasons = (await a.client.get("/absence-reasons")).json()
    assert {"sickness", "family_event", "job_interview", "france_travail"} <= {r["code"] for r in reasons}


async def test_the_month_closes_only_when_every_half_day_is_signed_or_declared_and_countersigned(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await a.plan(session_id)  # 9, 10, 12 November: 6 half-days of 3.5 h
    alice, bob = await a.enter(session_id, date(2026, 11, 2)), await a.enter(session_id, date(2026, 11, 2))
    for half_day in half_days:
        await a.sign_trainer(half_day, alice)
    for half_day in half_days[:4]:
        await a.sign_trainer(half_day, bob)
    a.at("2026-12-02T10:00:00")
    refused = await a.client.post(f"/sessions/{session_id}/months/2026-11/close", headers=a.org)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert {(u["half_day_id"], u["dossier_id"]) for u in problem["unsigned"]} == {(h["id"], str(bob)) for h in half_days[4:]}
    assert len(problem["uncountersigned"]) == 6
    await a.client.post(f"/half-days/{half_days[4]['id']}/absences", headers=a.org, json={
        "dossier_id": str(bob), "justified": True, "reason_code": "job_interview", "proof_reference": "convocation Acme 12/11"})
    await a.client.post(f"/half-days/{half_days[5]['id']}/absences", headers=a.org, json={"dossier_id": str(bob)})
    await a.client.post(f"/half-days/{half_days[0]['id']}/absences", headers=a.org, json={"dossier_id": str(alice), "absent": False, "late_minutes": 30})
    for half_day in half_days:
        countersigned = await a.client.post(f"/half-days/{half_day['id']}/countersignature", headers=a.org, json={"trainer": "Claire Martin"})
        assert countersigned.status_code == 201
    closed = await a.client.post(f"/sessions/{session_id}/months/2026-11/close", headers=a.org)
    assert closed.status_code == 201, closed.text
    statements = {s["dossier_id"]: s for s in closed.json()["statements"]}
    assert (statements[str(alice)]["planned_hours"], statements[str(alice)]["attended_hours"],
            statements[str(alice)]["unjustified_absence_hours"]) == ("21.00", "20.50", "0.50")
    assert (statements[str(bob)]["attended_hours"], statements[str(bob)]["justified_absence_hours"],
            statements[str(bob)]["unjustified_absence_hours"]) == ("14.00", "3.50", "3.50")
    again = await a.client.post(f"/sessions/{session_id}/months/2026-11/close", headers=a.org)
    assert again.status_code == 200 and again.json()["id"] == closed.json()["id"]
    first = half_days[0]["id"]
    for changed in (await a.client.post(f"/half-days/{first}/corrections", headers=a.org,
                                        json={"dossier_id": str(bob), "present": False, "reason": "after the close"}),
                    await a.client.post(f"/half-days/{first}/absences", headers=a.org, json={"dossier_id": str(bob)}),
                    await a.client.patch(f"/half-days/{first}", headers=a.org, json={"place": "Rezé", "reason": "moved"})):
        assert changed.status_code == 409 and changed.json()["type"].endswith("month-closed"), changed.text
        assert changed.json()["month"] == "2026-11"


async def test_one_device_for_several_trainees_and_a_late_qr_code_are_flagged(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await a.plan(session_id)
    first = half_days[0]
    alice, bob = await a.enter(session_id, date(2026, 11, 2)), await a.enter(session_id, date(2026, 11, 2))
    a.at("2026-11-09T09:00:00")
    qr = (await a.client.get(f"/half-days/{first['id']}/qr", headers=a.org)).json()
    for dossier in (alice, bob):
        trainee_pass = (await a.client.get(f"/sessions/{session_id}/passes/{dossier}", headers=a.org)).json()["token"]
        signed = await a.client.post("/signatures/qr", json={"qr_token": qr["token"], "pass_token": trainee_pass, "consent": True},
                                     headers={"User-Agent": "same-phone"}, cookies={"pacte_device": "d-1"})
        assert signed.status_code == 201, signed.text
    carol = await a.enter(session_id, date(2026, 11, 2))
    a.at("2026-11-09T09:02:00")  # four windows later
    carol_pass = (await a.client.get(f"/sessions/{session_id}/passes/{carol}", headers=a.org)).json()["token"]
    late = await a.client.post("/signatures/qr", json={"qr_token": qr["token"], "pass_token": carol_pass, "consent": True})
    assert late.status_code == 410
    replayed = await a.client.post("/signatures/qr", json={"qr_token": qr["token"], "pass_token": carol_pass, "consent": True})
    assert replayed.status_code == 410  # the same late code again: still one flag
    flags = (await a.client.get("/flags", headers=a.region)).json()["items"]
    assert {f["kind"] for f in flags} == {"shared_device", "late_qr"}
    shared = next(f for f in flags if f["kind"] == "shared_device")
    assert set(shared["dossier_ids"]) == {str(alice), str(bob)}
    assert next(f for f in flags if f["kind"] == "late_qr")["dossier_ids"] == [str(carol)]
    first = (await a.client.get("/flags", headers=a.org, params={"limit": 1})).json()
    rest = (await a.client.get("/flags", headers=a.org, params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert len(first["items"]) == len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {first["items"][0]["kind"], rest["items"][0]["kind"]} == {"shared_device", "late_qr"}



async def test_the_overview_counts_the_week_lists_the_months_waiting_and_the_flags_for_whom_may_see_them(attendance):
    a = attendance
    mine, theirs, other = uuid.uuid4(), uuid.uuid4(), new_siret()
    other_org = auth_header(a.settings, OrgKind.TRAINING_ORG, other)
    october = (await a.client.post(f"/sessions/{mine}/schedule/pattern", headers=a.org, json={
        "first_day": "2026-10-19", "last_day": "2026-10-19", "weekdays": {"mon": ["morning"]}})).json()["created"][0]
    week = await a.plan(mine)  # 9, 10, 12 November
    alice, bob = await a.enter(mine, date(2026, 10, 1)), await a.enter(mine, date(2026, 10, 1))
    for dossier in (alice, bob):
        await a.sign_trainer(october, dossier)
    await a.client.post(f"/half-days/{october['id']}/countersignature", headers=a.org, json={"trainer": "Claire Martin"})
    await a.sign_trainer(week[0], alice)
    await a.client.post(f"/half-days/{week[0]['id']}/absences", headers=a.org, json={"dossier_id": str(bob)})
    await a.client.post(f"/half-days/{week[0]['id']}/countersignature", headers=a.org, json={"trainer": "Claire Martin"})
    a.at(f"{week[2]['day']}T{week[2]['starts_at']}")
    for dossier in (alice, bob):  # one phone signs two trainees' links: a shared_device flag
        link = (await a.client.post(f"/half-days/{week[2]['id']}/links", headers=a.org, json={"dossier_id": str(dossier)})).json()
        signed = await a.client.post("/signatures/link", json={"token": link["token"], "half_day_id": week[2]["id"],
                                                               "dossier_id": str(dossier), "consent": True})
        assert signed.status_code == 201, signed.text
    ok = (await a.client.post(f"/sessions/{theirs}/schedule/pattern", headers=other_org, json={
        "first_day": "2026-11-09", "last_day": "2026-11-09", "weekdays": {"mon": ["morning"]}}))
    assert ok.status_code == 201, ok.text
    a.at("2026-11-10T12:45:00")

    region = await a.client.get("/overview", headers=a.region, params={"week": "2026-11-12"})
    assert region.status_code == 200, region.text
    body = region.json()
    assert (body["week_start"], body["week_end"], body["open_flags"]) == ("2026-11-09", "2026-11-15", 1)
    sessions = {item["session_id"]: item for item in body["items"]}
    assert set(sessions) == {str(mine), str(theirs)}
    mine_view = sessions[str(mine)]
    assert mine_view["waiting_months"] == ["2026-10"] and sessions[str(theirs)]["waiting_months"] == []
    counted = [(h["day"], h["period"], h["over"], h["signed"], h["absent"], h["unsigned"], h["countersigned"]) for h in mine_view["half_days"]]
    assert counted[:4] == [("2026-11-09", "morning", True, 1, 1, 0, True), ("2026-11-09", "afternoon", True, 0, 0, 2, False),
                           ("2026-11-10", "morning", True, 2, 0, 0, False), ("2026-11-10", "afternoon", False, 0, 0, 2, False)]
    assert len(counted) == 6
    # one session a page, the shared cursor; a training organisation sees its own sessions and flags only
    first = (await a.client.get("/overview", headers=a.region, params={"week": "2026-11-12", "limit": 1})).json()
    second = (await a.client.get("/overview", headers=a.region, params={"week": "2026-11-12", "limit": 1, "cursor": first["next_cursor"]})).json()
    assert {first["items"][0]["session_id"], second["items"][0]["session_id"]} == {str(mine), str(theirs)} and second["next_cursor"] is None
    theirs_view = (await a.client.get("/overview", headers=other_org)).json()  # this week by default: server time's
    assert theirs_view["week_start"] == "2026-11-09" and [i["session_id"] for i in theirs_view["items"]] == [str(theirs)]
    assert theirs_view["open_flags"] == 0
    bad = await a.client.get("/overview", headers=a.region, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"

async def test_the_signing_routes_open_to_anyone_have_a_rate_limit(settings_factory):
    # their own `signing` budget: the shared `public` one (here 1/minute) does not limit them
    settings = settings_factory(rate_limits={"reports": "60/minute", "public": "1/minute", "signing": "3/minute"})
    async with running(create_app(settings)) as client:
        answers = [(await client.get("/emargement/not-a-token")).status_code for _ in range(2)]
        answers.append((await client.post("/signatures/link", json={"token": "x", "half_day_id": str(uuid.uuid4()),
                                                                    "dossier_id": str(uuid.uuid4()), "consent": True})).status_code)
        refused = await client.post("/emargement/qr/x", data={"consent": "oui"})
    assert 429 not in answers and refused.status_code == 429, answers
    assert refused.json()["bucket"] == "signing"
