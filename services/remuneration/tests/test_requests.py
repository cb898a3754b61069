"""The request at entry, the entitlement from sessions' events, bad input, emergency aid."""

from datetime import date
from decimal import Decimal as D
from uuid import uuid4

from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_testing import read_topic
from pacte_testing.remuneration import IBAN, FileSpec

BAD_IBAN = "FR7630006000011234567890188"  # last digit changed: ISO 13616 check fails


async def test_request_before_entry_waits_then_entry_opens_the_entitlement(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol(FileSpec(unemployment_benefit=False))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_entry")
    response = await r.request(dossier, unemployment_benefit=True, unemployment_daily_amount="20.81",
                               nir="255081416802538")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "awaiting_entry" and body["regime"] is None
    assert body["request"]["nir_masked"] == "2************38"
    assert "255081416802538" not in response.text and IBAN not in response.text

    await r.sessions.enter(dossier, date(2019, 3, 4))
    file = await r.wait_file(dossier, lambda f: f["state"] == "open")
    # The request's declared benefit wins over the profile: unemployment insurance with the differential.
    assert file["regime"] == "unemployment_insurance" and file["differential_eligible"] is True
    assert "80% of the net minimum wage" in file["regime_reason"]

    # March 2019: 4..31 = 28 days × (30.25 − 20.81) = 264.32
    await r.sessions.attendance(dossier, "2019-03", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2019-03")
    await r.run("2019-03")
    statement = await r.statement("2019-03", dossier)
    assert {c["code"]: c["amount"] for c in statement["components"]}["differential_top_up"] == "264.32"

    events = await read_topic(r.settings.bus, topic_name(r.settings.bus, Topics.PAYMENTS), expect=1)
    opened = [e for e in events if e.type == "fr.paysdelaloire.pacte.remuneration.entitlement-opened.v1"]
    assert len(opened) == 1 and opened[0].data.regime == "unemployment_insurance"
    assert opened[0].data.dossier_id == dossier


async def test_programme_not_approved_and_no_benefit_means_no_remuneration(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol(FileSpec(remuneration_approved=False, programme_code="PREPA_CLES"))
    await r.sessions.enter(dossier, date(2021, 6, 1))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    body = (await r.request(dossier)).json()
    assert body["state"] == "not_entitled" and body["regime"] == "none"
    assert "PREPA_CLES is not approved" in body["regime_reason"]
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-06")
    run = await r.run("2021-06")
    assert run["statements_computed"] == 0 and run["total_amount"] == "0.00"


async def test_bad_input_is_422_problem_json_naming_the_field_and_nothing_is_stored(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol()
    await r.sessions.enter(dossier, date(2021, 6, 1))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")

    async def rejected(body, field, headers=None):
        response = await r.client.post("/requests", json=body, headers=headers or r.org)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
        return response

    async def unknown_file(body, headers=None):
        """Well-formed, but names no file of the caller's: 404 naming the field."""
        response = await r.client.post("/requests", json=body, headers=headers or r.org)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == "body.dossier_id"

    base = {"dossier_id": str(dossier), "iban": IBAN}
    await unknown_file({**base, "dossier_id": str(uuid4())})
    await rejected({**base, "iban": BAD_IBAN}, "body.iban")
    await rejected({**base, "unemployment_benefit": True, "unemployment_daily_amount": "-3.00"},
                   "body.unemployment_daily_amount")
    await rejected({**base, "unemployment_benefit": True}, "body.unemployment_daily_amount")
    await rejected({**base, "prior_work_months_last_12": -2}, "body.prior_work_months_last_12")
    await rejected({**base, "nir": "255081416802539"}, "body.nir")
    # Another organisation's file is as unknown as a file that does not exist.
    await unknown_file(base, headers=r.other_org)
    aid = await r.client.post("/emergency-aids", headers=r.org,
                              json={"dossier_id": str(dossier), "household_size": 0, "monthly_resources": "-1"})
    assert aid.status_code == 422
    assert {"body.household_size", "body.monthly_resources"} <= {e["field"] for e in aid.json()["errors"]}

    file = await r.file(dossier)
    assert file["request"] is None and file["state"] == "awaiting_request"

    # Negative hours on the bus are refused too: the statement is dead-lettered, not stored.
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=-7)
    await r.sessions.attendance(dossier, "2021-07", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-07")
    dlq = f"{topic_name(r.settings.bus, Topics.ATTENDANCE)}.dlq.remuneration.attendance"
    dead = await read_topic(r.settings.bus, dlq, expect=1)
    assert len(dead) == 1 and dead[0].data.month == "2021-06"
    assert "2021-06" not in (await r.file(dossier))["attendance_versions"]

    # Idempotent creation: same key and body → same answer, stored once.
    headers = {**r.org, "Idempotency-Key": "rs1-1"}
    first = await r.client.post("/requests", json=base, headers=headers)
    second = await r.client.post("/requests", json=base, headers=headers)
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert (await r.client.post("/requests", json=base, headers=r.org)).status_code == 409


async def test_emergency_aid_once_per_file_for_covered_programmes_under_the_ceiling_paid_next_batch(remuneration):
    r = remuneration
    covered = await r.sessions.enrol(FileSpec(birth_date=date(1991, 2, 2)))
    uncovered = await r.sessions.enrol(FileSpec(remuneration_approved=False, programme_code="PREPA_CLES"))
    extended = await r.sessions.enrol(FileSpec(remuneration_approved=False, programme_code="PREPA_AVENIR"))
    for dossier in (covered, uncovered, extended):
        await r.sessions.enter(dossier, date(2021, 6, 1))
        await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
        assert (await r.request(dossier)).status_code == 201

    async def ask(dossier, household=2, resources="900"):
        response = await r.client.post("/emergency-aids", headers=r.org, json={
            "dossier_id": str(dossier), "household_size": household, "monthly_resources": resources})
        assert response.status_code == 201, response.text
        return response.json()

    too_rich = await ask(covered, household=1, resources="1500.00")  # ceiling for 1 person: 1100
    assert (too_rich["decision"], too_rich["reason_code"]) == ("refused", "resources_above_ceiling")
    granted = await ask(covered)
    assert (granted["decision"], granted["amount"]) == ("granted", "250.00")
    again = await ask(covered)
    assert (again["decision"], again["reason_code"]) == ("refused", "already_granted")
    assert (await ask(uncovered))["reason_code"] == "programme_not_covered"
    assert (await ask(extended))["decision"] == "granted"

    await r.sessions.attendance(covered, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(covered, "2021-06")
    await r.run("2021-06")
    june = await r.statement("2021-06", covered)
    amounts = {c["code"]: D(c["amount"]) for c in june["components"]}
    assert amounts["emergency_aid"] == D("250.00")
    assert D(june["amount"]) == D("950.00")  # 685 + 15 + 250
    # The extended programme's trainee has no remuneration but gets the aid in the same batch.
    extended_june = await r.statement("2021-06", extended)
    assert extended_june["regime"] == "none" and extended_june["status"] == "computed"
    assert D(extended_june["amount"]) == D("250.00")

    events = await read_topic(r.settings.bus, topic_name(r.settings.bus, Topics.PAYMENTS), expect=5)
    assert len([e for e in events if e.type.endswith("emergency-aid-granted.v1")]) == 2


async def test_interruption_exit_and_cancellation_from_sessions(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol(FileSpec(birth_date=date(1991, 2, 2)))
    await r.sessions.enter(dossier, date(2021, 6, 1))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    assert (await r.request(dossier)).status_code == 201
    interruption = await r.sessions.interrupt(dossier, date(2021, 7, 5))
    await r.sessions.resume(dossier, interruption, date(2021, 7, 12))
    await r.sessions.exit(dossier, date(2021, 7, 28))
    await r.sessions.attendance(dossier, "2021-07", planned=100, unjustified=0)
    await r.wait_file(dossier, lambda f: f["state"] == "closed" and f["exit_date"] == "2021-07-28")
    await r.wait_attendance(dossier, "2021-07")
    await r.run("2021-07")
    july = await r.statement("2021-07", dossier)
    # 1..28 July less 5..11 July = 21 days: 685 × 21/31 = 464.03 ; 15 × 21/31 = 10.16
    assert july["inputs"]["days_in_training"] == "21"
    assert D(july["amount"]) == D("474.19")
    refused = await r.client.post("/runs", json={"month": "2021-08"}, headers=r.region)
    assert refused.status_code == 409 and refused.json()["month_to_do_first"] == "2021-07"  # months in order
    await r.validate("2021-07")
    assert (await r.run("2021-08"))["statements_computed"] == 0

    cancelled = await r.sessions.enrol()
    await r.sessions.enter(cancelled, date(2021, 7, 1))
    await r.wait_file(cancelled, lambda f: f["state"] == "awaiting_request")
    assert (await r.request(cancelled)).status_code == 201
    await r.sessions.cancel(cancelled)
    await r.wait_file(cancelled, lambda f: f["state"] == "cancelled")
    events = await read_topic(r.settings.bus, topic_name(r.settings.bus, Topics.PAYMENTS), expect=4)
    closed = [e.data.reason for e in events if e.type.endswith("entitlement-closed.v1")]
    assert sorted(closed) == ["cancelled", "exited"]


async def test_no_route_answers_hostile_input_with_a_5xx(remuneration):
    from pacte_testing import assert_no_5xx_from_hostile_input

    assert await assert_no_5xx_from_hostile_input(remuneration.client, remuneration.settings) > 50
