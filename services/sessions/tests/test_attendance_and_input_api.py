"""Attendance limits and corrections, months outside the training refused, late exits and
cancellations voiding the months they leave out; bad input answers 422 problem+json and
changes nothing."""

from datetime import date

from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceRecorded,
    AttendanceVoided,
)
from pacte_common.events import Topics
from pacte_testing import read_topic

STATEMENT = {
    "planned_hours": "140",
    "attended_hours": "119",
    "justified_absence_hours": "7",
    "unjustified_absence_hours": "3.5",
    "in_company_hours": "10.5",
}


async def test_attendance_limits_and_corrections(api):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"])
    url = f"/dossiers/{dossier['id']}/attendance"

    async def refused(month, body, field, status=422):
        response = await api.client.put(f"{url}/{month}", headers=api.org, json=body)
        assert response.status_code == status, response.text
        if status == 422:
            assert response.json()["errors"][0]["field"] == field

    await refused("2026-01", STATEMENT, "path.month")  # not entered yet
    await api.act(dossier["id"], "enter", {"entry_date": "2026-01-12"})
    api.clock.today = date(2026, 3, 2)  # statements are made once the month has begun
    await refused("2025-12", STATEMENT, "path.month")  # before the entry
    await refused("2026-13", STATEMENT, "path.month")  # not a month
    await refused("2026-01", {**STATEMENT, "attended_hours": "120"}, "body.attended_hours")  # 120+7+3.5+10.5 > 140
    await refused("2026-01", {**STATEMENT, "attended_hours": "-1"}, "body.attended_hours")

    first = await api.ok("PUT", f"{url}/2026-01", api.org, 201, json=STATEMENT)
    assert (first["version"], first["realised_hours"], first["history"]) == (1, "129.50", [])
    same = await api.ok("PUT", f"{url}/2026-01", api.org, 200, json=STATEMENT)  # the same statement again
    assert same["version"] == 1
    corrected = await api.ok("PUT", f"{url}/2026-01", api.org, 200, json={**STATEMENT, "attended_hours": "112", "unjustified_absence_hours": "10.5"})
    assert corrected["version"] == 2 and corrected["unjustified_absence_hours"] == "10.50"
    assert [(h["version"], h["attended_hours"]) for h in corrected["history"]] == [(1, "119.00")]
    assert corrected["history"][0]["superseded_at"] is not None
    await api.ok("PUT", f"{url}/2026-02", api.org, 201, json=STATEMENT)

    months = await api.ok("GET", url, api.org)
    assert [(m["month"], m["version"], len(m["history"])) for m in months] == [("2026-01", 2, 1), ("2026-02", 1, 0)]

    # At exit, realised hours come from the current statements: (112 + 10.5) + (119 + 10.5) = 252
    exited = await api.act(dossier["id"], "exit", {"exit_date": "2026-02-27", "kind": "completed"})
    assert (exited["realised_hours"], exited["cost"]) == ("252.00", "3150.00")  # × 12.50
    await refused("2026-03", STATEMENT, "path.month")  # after the exit

    events = await read_topic(api.settings.bus, api.topic(Topics.ATTENDANCE), expect=3)
    assert [(type(e.data), e.data.month, e.data.version) for e in events] == [
        (AttendanceRecorded, "2026-01", 1), (AttendanceCorrected, "2026-01", 2), (AttendanceRecorded, "2026-02", 1),
    ]
    assert all(e.data.dossier_id == exited["id"] or str(e.data.dossier_id) == exited["id"] for e in events)


async def test_no_attendance_outside_the_training(api):
    session = await api.catalogue(start=date(2026, 1, 5), end=date(2026, 3, 20))
    dossier = await api.enrol(session["id"])
    await api.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    url = f"/dossiers/{dossier['id']}/attendance"

    async def refused(month: str) -> str:
        response = await api.client.put(f"{url}/{month}", headers=api.org, json=STATEMENT)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        [error] = response.json()["errors"]
        assert error["field"] == "path.month"
        return error["message"]

    api.clock.today = date(2026, 2, 10)
    assert await refused("2026-03") == "the month 2026-03 is in the future (today is 2026-02-10)"
    await api.ok("PUT", f"{url}/2026-02", api.org, 201, json=STATEMENT)  # the current month
    api.clock.today = date(2026, 5, 4)
    assert await refused("2026-04") == "the month 2026-04 is after the session's end (2026-03-20)"
    assert await refused("2025-12") == "the month 2025-12 is before the session's start (2026-01-05)"
    await api.ok("PUT", f"{url}/2026-03", api.org, 201, json=STATEMENT)  # the session's last month
    assert [m["month"] for m in await api.ok("GET", url, api.org)] == ["2026-02", "2026-03"]
    events = await read_topic(api.settings.bus, api.topic(Topics.ATTENDANCE), expect=2)
    assert [e.data.month for e in events] == ["2026-02", "2026-03"]  # nothing of the refused months


async def test_late_exit_is_accepted_and_voids_the_months_after_it(api):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"])
    did = dossier["id"]
    await api.act(did, "enter", {"entry_date": "2026-01-05"})
    url = f"/dossiers/{did}/attendance"
    api.clock.today = date(2026, 4, 3)
    for month in ("2026-01", "2026-02", "2026-03", "2026-04"):
        await api.ok("PUT", f"{url}/{month}", api.org, 201, json=STATEMENT)  # 119 + 10.5 = 129.5 h each
    await api.ok("PUT", f"{url}/2026-03", api.org, 200, json={**STATEMENT, "attended_hours": "100"})  # version 2

    # The trainee left on 20 February: said on 3 April, with March and April already recorded.
    exited = await api.act(did, "exit", {"exit_date": "2026-02-20", "kind": "dropout", "dropout_reason": "employment"})
    assert (exited["status"], exited["realised_hours"], exited["cost"]) == ("exited", "259.00", "3237.50")  # 2 × 129.5 h × 12.50

    reason = "exit on 2026-02-20 declared on 2026-04-03"
    months = {m["month"]: m for m in await api.ok("GET", url, api.org)}
    assert list(months) == ["2026-01", "2026-02", "2026-03", "2026-04"]  # kept in the history
    assert [(m["voided"], m["voided_reason"]) for m in months.values()] == [
        (False, None), (False, None), (True, reason), (True, reason),
    ]
    march = months["2026-03"]
    assert (march["version"], march["attended_hours"], [h["version"] for h in march["history"]]) == (2, "100.00", [1])
    assert march["voided_at"] is not None and months["2026-01"]["voided_at"] is None
    response = await api.client.put(f"{url}/2026-03", headers=api.org, json=STATEMENT)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "path.month"  # after the exit

    events = await read_topic(api.settings.bus, api.topic(Topics.ATTENDANCE), expect=7)
    voided = [e.data for e in events if isinstance(e.data, AttendanceVoided)]
    assert [(v.month, v.version, v.reason) for v in voided] == [("2026-03", 2, reason), ("2026-04", 1, reason)]
    assert all(str(v.dossier_id) == did and str(v.person_id) == dossier["person_id"] for v in voided)
    assert [e.type for e in events if isinstance(e.data, AttendanceVoided)] == ["fr.paysdelaloire.pacte.attendance.voided.v1"] * 2
    exit_event = (await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=3))[-1]
    assert exit_event.data.realised_hours == 259 and exit_event.data.cost == 3237.5


async def test_cancellation_voids_the_attendance_and_takes_no_more(api):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"])
    await api.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    url = f"/dossiers/{dossier['id']}/attendance"
    api.clock.today = date(2026, 2, 9)
    await api.ok("PUT", f"{url}/2026-01", api.org, 201, json=STATEMENT)
    await api.ok("PUT", f"{url}/2026-02", api.org, 201, json=STATEMENT)
    cancelled = await api.act(dossier["id"], "cancel", {"reason": "wrong person"})  # accepted, attendance or not
    assert cancelled["status"] == "cancelled"
    months = await api.ok("GET", url, api.org)
    assert [(m["month"], m["voided"], m["voided_reason"]) for m in months] == [
        ("2026-01", True, "entry cancelled on 2026-02-09"), ("2026-02", True, "entry cancelled on 2026-02-09"),
    ]
    response = await api.client.put(f"{url}/2026-01", headers=api.org, json=STATEMENT)
    assert response.status_code == 409
    events = await read_topic(api.settings.bus, api.topic(Topics.ATTENDANCE), expect=4)
    assert [(type(e.data), e.data.month) for e in events] == [
        (AttendanceRecorded, "2026-01"), (AttendanceRecorded, "2026-02"), (AttendanceVoided, "2026-01"), (AttendanceVoided, "2026-02"),
    ]


async def test_bad_input_is_422_and_nothing_is_stored_or_published(api):
    bad_requests = [
        ("/programmes", api.region, {**api.programme_body(), "pillar": "visas"}, "body.pillar"),
        ("/programmes", api.region, {k: v for k, v in api.programme_body().items() if k != "name"}, "body.name"),
        ("/actions", api.region, api.action_body("VISA-METIERS", siret="12345678900016"), "body.organisation_siret"),
        ("/actions", api.region, api.action_body("VISA-METIERS", hourly_price="-3"), "body.hourly_price"),
    ]
    for url, headers, body, field in bad_requests:
        response = await api.client.post(url, headers=headers, json=body)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    # well-formed, refused by the data as it is (409 naming the field)
    refused = [
        (api.action_body("VISA-METIERS", departement="75"), "body.departement", "outside-region"),
        (api.action_body("NO-SUCH-PROGRAMME"), "body.programme_code", "unknown-reference"),
    ]
    for body, field, slug in refused:
        response = await api.client.post("/actions", headers=api.region, json=body)
        assert response.status_code == 409 and response.json()["type"].endswith(f"/{slug}"), response.text
        assert response.json()["field"] == field
    assert await api.ok("GET", "/programmes", api.region) == []

    session = await api.catalogue()
    bad_sessions = [
        ({"action_id": session["action_id"], "start_date": "2026-03-01", "end_date": "2026-02-01", "places": 3}, "body"),
        ({"action_id": session["action_id"], "start_date": "2026-03-01", "end_date": "2026-04-01", "places": 0}, "body.places"),
    ]
    for body, field in bad_sessions:
        response = await api.client.post("/sessions", headers=api.region, json=body)
        assert response.status_code == 422 and field in [e["field"] for e in response.json()["errors"]], response.text

    bad_dossiers = [
        ({"identity": {**api.identity_body(), "nir": "185054410912399"}}, "body.identity.nir"),  # wrong key
        ({"profile": {**api.profile_body(), "sex": "X"}}, "body.profile.sex"),
        ({"profile": {**api.profile_body(), "birth_date": "1990-02-30"}}, "body.profile.birth_date"),
        ({"session_id": "5b0c6c55-0000-4000-8000-000000000000"}, "body.session_id"),
    ]
    for override, field in bad_dossiers:
        body = {"session_id": session["id"], "profile": api.profile_body(), "identity": api.identity_body(), **override}
        response = await api.client.post("/dossiers", headers=api.org, json=body)
        if field == "body.session_id":  # well-formed, no such session of the caller's
            assert response.status_code == 409 and response.json()["field"] == field, response.text
            continue
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]]
        assert "185054410912399" not in response.text  # the NIR is not echoed back
    assert (await api.ok("GET", "/dossiers", api.org))["items"] == []
    assert len((await api.ok("GET", "/sessions", api.region))["items"]) == 1

    trainees = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=0, timeout=1)
    catalogue = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=1)
    assert trainees == [] and len(catalogue) == 1  # only the valid session's publication


async def test_direct_enrolment_is_idempotent_and_seals_the_identity(api):
    session = await api.catalogue()
    body = {"session_id": session["id"], "profile": api.profile_body(), "identity": api.identity_body(api.NIR)}
    headers = {**api.org, "Idempotency-Key": "enrol-0001"}
    first = await api.client.post("/dossiers", headers=headers, json=body)
    again = await api.client.post("/dossiers", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    assert len((await api.ok("GET", "/dossiers", api.org))["items"]) == 1
    assert api.NIR not in first.text

    detail = await api.ok("GET", f"/dossiers/{first.json()['id']}", api.org)
    assert detail["identity"]["nir_masked"] == "1************14" and detail["has_nir"] is True
    # A second file for the same NIR (another session) is the same person.
    other = await api.catalogue()
    second = await api.ok("POST", "/dossiers", api.org, 201, json={**body, "session_id": other["id"]})
    assert second["person_id"] == first.json()["person_id"]
    # The same person twice in one session is refused.
    assert (await api.client.post("/dossiers", headers=api.org, json=body)).status_code == 409

    events = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=2)
    assert len(events) == 2
    for event in events:
        assert event.data.dossier.identity_encrypted.startswith("v1:") and event.data.dossier.has_nir
        assert api.NIR not in event.body().decode() and api.NIR not in str(event.subject)


async def test_session_listing_is_paginated(api):
    for _ in range(3):
        await api.catalogue()
    first = await api.ok("GET", "/sessions?limit=2", api.region)
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = await api.ok("GET", f"/sessions?limit=2&cursor={first['next_cursor']}", api.region)
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert {s["id"] for s in first["items"]}.isdisjoint(s["id"] for s in second["items"])
    bad = await api.client.get("/sessions?cursor=not-a-cursor", headers=api.region)
    assert bad.status_code == 422


async def test_identity_completed_later_reaches_the_bus_sealed(api):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"])
    assert dossier["has_nir"] is False
    updated = await api.ok("PUT", f"/dossiers/{dossier['id']}/identity", api.org, json=api.identity_body(api.NIR))
    assert updated["has_nir"] is True and updated["version"] == 2
    again = await api.ok("PUT", f"/dossiers/{dossier['id']}/identity", api.org, json=api.identity_body(api.NIR))
    assert again["version"] == 2  # the same identity: nothing new
    events = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=2)
    assert [e.type.split(".")[-2] for e in events] == ["enrolled", "identity-updated"]
    assert events[1].data.dossier.has_nir and api.NIR not in events[1].body().decode()
