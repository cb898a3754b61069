"""The whole way, on the whole suite as `pacte up` starts it (subprocesses, a real broker):
schedule → signatures (link, QR code, trainer's device) → absences and lateness → month close →
sessions records the statement from the sheets → remuneration pays it, the same amount as for
the same hours typed by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from pacte_common.auth import OrgKind
from pacte_testing import eventually, new_siret
from pacte_tools.dev_issuer import request_token

DEADLINE = 60
ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:journey-1@test
DTSTART;TZID=Europe/Paris:20261116T090000
DTEND;TZID=Europe/Paris:20261116T123000
SUMMARY:Hygiene
LOCATION:Salle 2
END:VEVENT
END:VCALENDAR
"""


class Partners:
    def __init__(self, suite, siret):
        self.suite, self.siret, self.clients = suite, siret, []

    def client(self, service, kind, org="region", auth=True) -> httpx.AsyncClient:
        headers = {}
        if auth:
            headers["Authorization"] = "Bearer " + request_token(self.suite.issuer_settings.issuer_url, OrgKind(kind).value, org, [service])
        client = httpx.AsyncClient(base_url=self.suite.url(service), headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def at(self, local: str) -> None:
        moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Paris"))
        self.suite.clock_file.write_text(moment.astimezone(UTC).isoformat())

    async def close(self):
        for client in self.clients:
            await client.aclose()


def ok(response: httpx.Response, *status: int) -> dict:
    assert response.status_code in (status or (200, 201)), response.text
    return response.json()


async def open_sessions(region, siret) -> tuple[str, str]:
    code = f"VISA-{uuid.uuid4().hex[:8]}"
    ok(await region.post("/programmes", json={"code": code, "name": f"VISA Métiers {code}", "pillar": "visa", "remuneration_approved": True}))
    action = ok(await region.post("/actions", json={
        "programme_code": code, "organisation_siret": siret, "title": "Agent de propreté et d'hygiène", "hours_in_centre": "420",
        "hours_in_company": "70", "hourly_price": "12.50", "departement": "44", "weekly_hours": "35"}))
    sessions = [ok(await region.post("/sessions", json={"action_id": action["id"], "start_date": "2026-11-02", "end_date": "2027-02-26",
                                                        "places": 12})) for _ in range(2)]
    return sessions[0]["session_id"], sessions[1]["session_id"]


async def enrol(org_sessions, org_pay, session_id: str, name: str) -> str:
    dossier = ok(await org_sessions.post("/dossiers", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "session_id": session_id, "identity": {"birth_name": name, "first_names": "Inès"},
        "profile": {"sex": "F", "birth_date": "1995-03-10", "education_level": "iv", "jobseeker_category": "A",
                    "jobseeker_registration_date": "2024-01-15"}}), 201)
    ok(await org_sessions.post(f"/dossiers/{dossier['id']}/entry", json={"entry_date": "2026-11-02"}))

    async def pay_knows():
        return (await org_pay.get(f"/files/{dossier['id']}")).status_code == 200

    await eventually(pay_knows, DEADLINE, message="remuneration knows the file")
    ok(await org_pay.post("/requests", json={"dossier_id": dossier["id"], "iban": "FR7630006000011234567890189"}), 201)
    return dossier["id"]


async def test_journey_schedule_signatures_absences_close_pay(attendance_suite):
    p = Partners(attendance_suite, new_siret())
    try:
        await _journey(p)
    finally:
        await p.close()


async def _journey(p: Partners):
    region_sessions, org_sessions = p.client("sessions", OrgKind.REGION), p.client("sessions", OrgKind.TRAINING_ORG, p.siret)
    org_pay, region_pay = p.client("remuneration", OrgKind.TRAINING_ORG, p.siret), p.client("remuneration", OrgKind.REGION)
    org, public = p.client("attendance", OrgKind.TRAINING_ORG, p.siret), p.client("attendance", OrgKind.REGION, auth=False)
    sheets_session, paper_session = await open_sessions(region_sessions, p.siret)
    ines = await enrol(org_sessions, org_pay, sheets_session, "Martin")
    twin = await enrol(org_sessions, org_pay, paper_session, "Durand")  # same profile, her month typed by hand

    # 1. the schedule: a week's pattern (11 November and a closure left out) and an iCalendar half-day
    created = ok(await org.post(f"/sessions/{sheets_session}/schedule/pattern", json={
        "first_day": "2026-11-09", "last_day": "2026-11-13", "weekdays": {d: ["morning", "afternoon"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "closures": [{"first_day": "2026-11-13", "last_day": "2026-11-13"}], "trainer": "Claire Martin"}), 201)
    assert created["skipped_days"] == ["2026-11-11", "2026-11-13"]
    ok(await org.post(f"/sessions/{sheets_session}/schedule/icalendar", content=ICS, headers={"Content-Type": "text/calendar"}), 201)
    half_days = ok(await org.get(f"/sessions/{sheets_session}/half-days"))
    assert len(half_days) == 7

    async def trainee_known():
        return (await org.get(f"/sessions/{sheets_session}/passes/{ines}")).status_code == 200

    await eventually(trainee_known, DEADLINE, message="attendance knows the trainee from sessions' events")

    # 2. signatures: a personal link, the room's QR code, the trainer's device
    link_day, qr_day, *trainer_days, sick_day = half_days[:6]
    trainer_days.append(half_days[6])
    p.at(f"{link_day['day']}T08:00:00")
    link = ok(await org.post(f"/half-days/{link_day['id']}/links", json={"dossier_id": ines}), 201)
    p.at(f"{link_day['day']}T09:01:00")
    ok(await public.post("/signatures/link", json={"token": link["token"], "half_day_id": link_day["id"], "dossier_id": ines, "consent": True}), 201)
    p.at(f"{qr_day['day']}T{qr_day['starts_at']}")
    qr = ok(await org.get(f"/half-days/{qr_day['id']}/qr"))
    trainee_pass = ok(await org.get(f"/sessions/{sheets_session}/passes/{ines}"))["token"]
    ok(await public.post("/signatures/qr", json={"qr_token": qr["token"], "pass_token": trainee_pass, "consent": True}), 201)
    for half_day in trainer_days:
        p.at(f"{half_day['day']}T{half_day['starts_at']}")
        ok(await org.post(f"/half-days/{half_day['id']}/signatures", json={"dossier_id": ines, "consent": True}), 201)

    # 3. absences: a justified one, a late arrival
    ok(await org.post(f"/half-days/{sick_day['id']}/absences", json={"dossier_id": ines, "justified": True, "reason_code": "sickness",
                                                                      "proof_reference": "arrêt de travail du 12/11"}), 201)
    ok(await org.post(f"/half-days/{trainer_days[0]['id']}/absences", json={"dossier_id": ines, "absent": False, "late_minutes": 30}), 201)

    # 4. the month's close: refused until every half-day is countersigned, then the statement reaches sessions
    p.at("2026-12-01T10:00:00")
    refused = await org.post(f"/sessions/{sheets_session}/months/2026-11/close")
    assert refused.status_code == 409 and len(refused.json()["uncountersigned"]) == 7
    for half_day in half_days:
        ok(await org.post(f"/half-days/{half_day['id']}/countersignature", json={"trainer": "Claire Martin"}), 201)
    closure = ok(await org.post(f"/sessions/{sheets_session}/months/2026-11/close"), 201)
    built = closure["statements"][0]
    assert (built["planned_hours"], built["attended_hours"], built["justified_absence_hours"], built["unjustified_absence_hours"]) == (
        "24.50", "20.50", "3.50", "0.50")  # 7 half-days of 3.5 h; 30 minutes late; one half-day off sick

    async def recorded_from_sheets():
        months = (await org_sessions.get(f"/dossiers/{ines}/attendance")).json()
        return next((m for m in months if m["month"] == "2026-11" and m["source"] == "sheets"), None)

    statement = await eventually(recorded_from_sheets, DEADLINE, message="sessions recorded the month from the sheets")
    assert Decimal(statement["attended_hours"]) == Decimal(built["attended_hours"])
    assert Decimal(statement["unjustified_absence_hours"]) == Decimal(built["unjustified_absence_hours"])
    # the same hours typed by hand for her twin (the manual route stays)
    manual = ok(await org_sessions.put(f"/dossiers/{twin}/attendance/2026-11", json={
        "planned_hours": built["planned_hours"], "attended_hours": built["attended_hours"],
        "justified_absence_hours": built["justified_absence_hours"], "unjustified_absence_hours": built["unjustified_absence_hours"]}))
    assert manual["source"] == "manual"

    # 5. remuneration pays from it, with no change: the amount computed from the signed hours
    async def both_arrived():
        files = [(await region_pay.get(f"/files/{d}")).json() for d in (ines, twin)]
        return all("2026-11" in f.get("attendance_versions", {}) for f in files)

    await eventually(both_arrived, DEADLINE, message="both months in remuneration")
    ok(await region_pay.post("/runs", json={"month": "2026-11"}), 201)
    paid = {}
    for dossier in (ines, twin):
        items = ok(await region_pay.get("/statements", params={"month": "2026-11", "dossier_id": dossier}))["items"]
        paid[dossier] = Decimal(str(items[0]["amount"]))
    assert paid[ines] > 0 and paid[ines] == paid[twin], paid
