"""The schedule (pattern, iCalendar, edits) and signing without an account (link, QR, trainer)."""

from __future__ import annotations

import uuid
from datetime import date

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
