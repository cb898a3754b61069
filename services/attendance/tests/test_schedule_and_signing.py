"""The schedule (pattern, iCalendar, CSV, edits) and signing without an account (link, QR, trainer)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from pacte_common.auth import OrgKind
from pacte_testing import auth_header, new_siret

ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:1@test
DTSTART;TZID=Europe/Paris:20261116T090000
DTEND;TZID=Europe/Paris:20261116T123000
SUMMARY:Hygiene
LOCATION:Salle 2, Nantes
ORGANIZER;CN=Claire Martin:mailto:claire@example.org
END:VEVENT
BEGIN:VEVENT
UID:2@test
DTSTART;TZID=Europe/Paris:20261116T140000
DTEND;TZID=Europe/Paris:20261116T170000
SUMMARY:Classe virtuelle
LOCATION:distance
END:VEVENT
END:VCALENDAR
"""


async def plan_week(a, session_id) -> list[dict]:
    response = await a.client.post(f"/sessions/{session_id}/schedule/pattern", headers=a.org, json={
        "first_day": "2026-11-09", "last_day": "2026-11-13", "weekdays": {d: ["morning", "afternoon"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "closures": [{"first_day": "2026-11-13", "last_day": "2026-11-13"}], "place": "Nantes", "trainer": "Claire Martin"})
    assert response.status_code == 201, response.text
    return response.json()["created"]


async def test_a_weekly_pattern_leaves_out_public_holidays_and_closures(attendance):
    session_id = uuid.uuid4()
    created = await plan_week(attendance, session_id)
    days = sorted({h["day"] for h in created})
    assert days == ["2026-11-09", "2026-11-10", "2026-11-12"]  # 11 November (holiday) and the closure on the 13th left out
    assert len(created) == 6 and {h["hours"] for h in created} == {"3.50"}
    again = await attendance.client.post(f"/sessions/{session_id}/schedule/pattern", headers=attendance.org, json={
        "first_day": "2026-11-09", "last_day": "2026-11-13", "weekdays": {"mon": ["morning"]}})
    assert again.json()["created"] == [] and again.json()["already_planned"] == 1


async def test_a_session_planned_by_another_organisation_is_the_sessions_organisations_once_known(attendance):
    a = attendance
    session_id = uuid.uuid4()
    impostor = auth_header(a.settings, OrgKind.TRAINING_ORG, new_siret())
    planned = await a.client.post(f"/sessions/{session_id}/schedule/pattern", headers=impostor, json={
        "first_day": "2026-11-16", "last_day": "2026-11-16", "weekdays": {"mon": ["morning"]}})
    assert planned.status_code == 201  # before sessions' events, the caller's for now
    await a.enter(session_id, date(2026, 11, 2))  # the session is the fixture's organisation's
    refused = await a.client.get(f"/sessions/{session_id}/half-days", headers=impostor)
    assert refused.status_code == 404 and str(session_id) in refused.json()["detail"]
    assert (await a.client.get(f"/sessions/{session_id}/half-days", headers=a.org)).json() == []  # its plan dropped


async def test_icalendar_import(attendance):
    session_id = uuid.uuid4()
    response = await attendance.client.post(f"/sessions/{session_id}/schedule/icalendar", headers={**attendance.org, "Content-Type": "text/calendar"}, content=ICS)
    assert response.status_code == 201, response.text
    morning, afternoon = sorted(response.json()["created"], key=lambda h: h["starts_at"])
    assert (morning["period"], morning["place"], morning["trainer"], morning["hours"]) == ("morning", "Salle 2, Nantes", "Claire Martin", "3.50")
    assert (afternoon["period"], afternoon["distance"], afternoon["hours"]) == ("afternoon", True, "3.00")
    bad = await attendance.client.post(f"/sessions/{session_id}/schedule/icalendar", headers=attendance.org, content=b"nonsense")
    assert bad.status_code == 422


# A spreadsheet's export: UTF-8 with its BOM, semicolons, CRLF, French dates and decimal comma.
PLANNING_CSV = Path(__file__).parent / "files" / "planning.csv"


async def test_csv_import_all_or_nothing_and_signed_half_days_kept(attendance):
    a = attendance
    session_id = uuid.uuid4()
    csv_headers = {**a.org, "Content-Type": "text/csv"}
    # a bad file changes nothing: not even the session is recorded; each bad row named with its column
    bad = (b"date,half,start,end,hours\n2026-11-16,morning,09:00,12:30,\n31/02/2026,morning,09:00,12:00,\n"
           b"2026-11-18,afternoon,14:00,1700,\n2026-11-19,morning,09:00,12:00,9\n2026-11-16,matin,08:30,12:00,\n"
           b"2026-11-20,morning,09:00,12:00,NaN\n")
    refused = await a.client.post(f"/sessions/{session_id}/schedule/csv", headers=csv_headers, content=bad)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [(e["row"], e["column"]) for e in refused.json()["errors"]] == [(3, "date"), (4, "end"), (5, "hours"), (6, "date"), (7, "hours")]
    assert refused.json()["errors"][0]["field"] == "body.row[3].date"
    assert (await a.client.get(f"/sessions/{session_id}/half-days", headers=a.org)).status_code == 404
    header = await a.client.post(f"/sessions/{session_id}/schedule/csv", headers=csv_headers, content=b"date;debut;end\n")
    assert header.status_code == 422 and header.json()["errors"][0]["field"] == "body.row[1]" and "debut" in header.text

    response = await a.client.post(f"/sessions/{session_id}/schedule/csv", headers=csv_headers, content=PLANNING_CSV.read_bytes())
    assert response.status_code == 201, response.text
    created = sorted(response.json()["created"], key=lambda h: (h["day"], h["starts_at"]))
    assert [(h["day"], h["period"], h["starts_at"], h["hours"], h["place"], h["distance"], h["trainer"], h["origin"]) for h in created] == [
        ("2026-11-16", "morning", "09:00:00", "3.50", "Salle 2, Nantes", False, "Claire Martin", "csv"),
        ("2026-11-16", "afternoon", "13:30:00", "3.25", None, True, "Claire Martin", "csv"),
        ("2026-11-17", "morning", "09:00:00", "3.00", "https://visio.example.org/abc", True, "Paul Durand", "csv")]

    # imported again with a signed half-day's times changed: the half-day and its signature are kept
    # as they are (a change is an edit: logged, with a reason once signed)
    trainee = await a.enter(session_id, date(2026, 11, 2))
    signature = await a.sign_trainer(created[0], trainee)
    changed = PLANNING_CSV.read_bytes().replace(b"16/11/2026;matin;09:00;12:30", b"16/11/2026;matin;08:30;12:00")
    again = await a.client.post(f"/sessions/{session_id}/schedule/csv", headers=csv_headers, content=changed)
    assert again.status_code == 201 and again.json() == {**again.json(), "created": [], "already_planned": 3}
    morning = next(h for h in (await a.client.get(f"/sessions/{session_id}/half-days", headers=a.org)).json() if h["id"] == created[0]["id"])
    assert morning["starts_at"] == "09:00:00" and morning["version"] == created[0]["version"]
    sheet = (await a.client.get(f"/sessions/{session_id}/sheets/2026-11", headers=a.org)).json()
    assert sheet["rows"][0]["cells"][0]["state"] == "signed" and signature["method"] == "trainer"
    assert (await a.client.get(f"/half-days/{created[0]['id']}/changes", headers=a.org)).json() == []


async def test_signing_by_link_qr_and_trainer_device(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await plan_week(a, session_id)
    first = next(h for h in half_days if h["day"] == "2026-11-09" and h["period"] == "morning")
    alice, bob, carol = [await a.enter(session_id, date(2026, 11, 2)) for _ in range(3)]

    a.at("2026-11-06T10:00:00")
    link = (await a.client.post(f"/half-days/{first['id']}/links", headers=a.org, json={"dossier_id": str(alice)})).json()
    a.at("2026-11-09T09:02:00")
    body = {"token": link["token"], "half_day_id": first["id"], "dossier_id": str(alice), "consent": True}
    signed = await a.client.post("/signatures/link", json=body, headers={"User-Agent": "phone-a"})
    assert signed.status_code == 201, signed.text
    assert signed.json()["method"] == "link" and signed.json()["present"]
    twice = await a.client.post("/signatures/link", json=body, headers={"User-Agent": "phone-a"})
    assert twice.status_code == 200 and twice.json()["id"] == signed.json()["id"]
    other = await a.client.post("/signatures/link", json={**body, "dossier_id": str(bob)})
    assert other.status_code == 403
    other_day = await a.client.post("/signatures/link", json={**body, "half_day_id": half_days[1]["id"]})
    assert other_day.status_code == 403

    qr = (await a.client.get(f"/half-days/{first['id']}/qr", headers=a.org)).json()
    bob_pass = (await a.client.get(f"/sessions/{session_id}/passes/{bob}", headers=a.org)).json()["token"]
    by_qr = await a.client.post("/signatures/qr", json={"qr_token": qr["token"], "pass_token": bob_pass, "consent": True},
                                headers={"User-Agent": "phone-b"})
    assert by_qr.status_code == 201, by_qr.text
    assert by_qr.json()["method"] == "qr"

    by_trainer = await a.client.post(f"/half-days/{first['id']}/signatures", headers=a.org, json={"dossier_id": str(carol), "consent": True})
    assert by_trainer.status_code == 201 and by_trainer.json()["method"] == "trainer"

    stranger = await a.client.post(f"/half-days/{first['id']}/signatures", headers=a.org, json={"dossier_id": str(uuid.uuid4()), "consent": True})
    assert stranger.status_code == 404  # not a trainee of the session


async def test_expired_link_is_410_and_says_how_to_get_a_new_one(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await plan_week(a, session_id)
    alice = await a.enter(session_id, date(2026, 11, 2))
    a.at("2026-10-01T10:00:00")
    link = (await a.client.post(f"/half-days/{half_days[0]['id']}/links", headers=a.org, json={"dossier_id": str(alice)})).json()
    a.at("2026-11-09T09:05:00")  # more than 7 days later
    response = await a.client.post("/signatures/link", json={"token": link["token"], "half_day_id": half_days[0]["id"], "dossier_id": str(alice), "consent": True})
    assert response.status_code == 410
    assert "nouveau lien" in response.json()["how_to_renew"]

    fresh = (await a.client.post(f"/half-days/{half_days[0]['id']}/links", headers=a.org, json={"dossier_id": str(alice)})).json()
    page = await a.client.get(f"/emargement/{fresh['token']}")
    assert page.status_code == 200 and "pacte_pass" not in page.headers.get("set-cookie", "")  # viewing gives no pass
    signed = await a.client.post(f"/emargement/{fresh['token']}", data={"consent": "oui"})
    assert signed.status_code == 200, signed.text
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("pacte_pass="))
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])  # to 1 April 2027 (the session ends 31 March) + 7 days of grace
    assert 149 * 86400 < max_age < 150 * 86400 and "secure" not in cookie.lower()  # development: no HTTPS


async def test_signature_outside_the_half_day_window_is_refused(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await plan_week(a, session_id)
    morning = next(h for h in half_days if h["day"] == "2026-11-10" and h["period"] == "morning")
    alice = await a.enter(session_id, date(2026, 11, 2))
    for instant in ("2026-11-10T08:30:00", "2026-11-10T12:31:00", "2026-11-09T10:00:00"):
        a.at(instant)
        response = await a.client.post(f"/half-days/{morning['id']}/signatures", headers=a.org, json={"dossier_id": str(alice), "consent": True})
        assert response.status_code == 409 and response.json()["type"].endswith("outside-window"), (instant, response.text)
    a.at("2026-11-10T08:50:00")  # a little early: allowed
    assert (await a.client.post(f"/half-days/{morning['id']}/signatures", headers=a.org, json={"dossier_id": str(alice), "consent": True})).status_code == 201
    early = await a.client.post(f"/half-days/{morning['id']}/countersignature", headers=a.org, json={"trainer": "C. Martin"})
    assert early.status_code == 409 and early.json()["type"].endswith("not-started")  # the day, but before 9:00 in Paris
    a.at("2026-11-10T09:00:00")
    assert (await a.client.post(f"/half-days/{morning['id']}/countersignature", headers=a.org, json={"trainer": "C. Martin"})).status_code == 201


async def test_a_correction_needs_a_reason_and_is_a_new_record(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await plan_week(a, session_id)
    alice = await a.enter(session_id, date(2026, 11, 2))
    no_reason = await a.client.post(f"/half-days/{half_days[0]['id']}/corrections", headers=a.org, json={"dossier_id": str(alice), "present": True})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "body.reason"
    fixed = await a.client.post(f"/half-days/{half_days[0]['id']}/corrections", headers=a.org,
                                json={"dossier_id": str(alice), "present": True, "reason": "signed the paper sheet, phone out of battery"})
    assert fixed.status_code == 201 and fixed.json()["seq"] == 1 and fixed.json()["method"] == "correction"
    undone = await a.client.post(f"/half-days/{half_days[0]['id']}/corrections", headers=a.org,
                                 json={"dossier_id": str(alice), "present": False, "reason": "left before the start"})
    assert undone.json()["seq"] == 2 and undone.json()["corrects_id"] == fixed.json()["id"]


async def test_a_change_after_signatures_keeps_them_and_is_logged(attendance):
    a = attendance
    session_id = uuid.uuid4()
    half_days = await plan_week(a, session_id)
    first = half_days[0]
    alice = await a.enter(session_id, date(2026, 11, 2))
    a.at(f"{first['day']}T{first['starts_at']}")
    assert (await a.client.post(f"/half-days/{first['id']}/signatures", headers=a.org, json={"dossier_id": str(alice), "consent": True})).status_code == 201
    no_reason = await a.client.patch(f"/half-days/{first['id']}", headers=a.org, json={"ends_at": "12:00:00"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "body.reason"
    changed = await a.client.patch(f"/half-days/{first['id']}", headers=a.org, json={"ends_at": "12:00:00", "reason": "trainer ill"})
    assert changed.status_code == 200 and changed.json()["hours"] == "3.00" and changed.json()["version"] == 2
    log = (await a.client.get(f"/half-days/{first['id']}/changes", headers=a.org)).json()
    assert log[0]["signatures_kept"] == 1 and log[0]["before"]["ends_at"] == "12:30:00" and log[0]["reason"] == "trainer ill"
    sheet = (await a.client.get(f"/sessions/{session_id}/sheets/2026-11", headers=a.org)).json()
    assert any(c["state"] == "signed" for r in sheet["rows"] for c in r["cells"])
