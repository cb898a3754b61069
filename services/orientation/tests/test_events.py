"""The bus, for real: the read model fed by catalogue events, one event per transition, the
expiry job, and sessions' trainee events (even told twice)."""

import re
import uuid
from datetime import date, timedelta

from orientation.domain.prescription import Status
from pacte_common.clock import utcnow
from pacte_common.contracts.sessions import (
    Pillar,
    ProgrammeInfo,
    SessionCancelled,
    SessionClosed,
    SessionUpdated,
    TraineeEnrolled,
    TraineeEntered,
)
from pacte_testing import eventually


async def test_read_model_fed_by_catalogue_events(kit):
    today = date.today()
    visa_44 = await kit.publish_session(departement="44", start_date=today + timedelta(days=20))
    prepa_85 = await kit.publish_session(
        departement="85",
        rncp_code=None,
        programme=ProgrammeInfo(code="PREPA-AVENIR", name="PRÉPA Avenir", pillar=Pillar.PREPA),
        start_date=today + timedelta(days=60),
    )
    no_place = await kit.publish_session(departement="49", places=12, places_taken=12, start_date=today + timedelta(days=40))
    to_close = await kit.publish_session(departement="53")
    to_cancel = await kit.publish_session(departement="72")

    await kit.publish(SessionUpdated(session=visa_44.model_copy(update={"places_taken": 7})), str(visa_44.session_id))
    await kit.publish(SessionClosed(session=to_close), str(to_close.session_id))
    await kit.publish(SessionCancelled(session=to_cancel), str(to_cancel.session_id))

    async def listed(**params):
        answer = await kit.client.get("/sessions", params=params, headers=kit.prescriber_a)
        assert answer.status_code == 200, answer.text
        return [item["session_id"] for item in answer.json()["items"]]

    async def settled():
        return await listed() == [str(s.session_id) for s in (visa_44, no_place, prepa_85)]

    await eventually(settled, message="closed and cancelled sessions gone from the list")
    one = (await kit.client.get(f"/sessions/{visa_44.session_id}", headers=kit.org_b)).json()
    assert (one["places_taken"], one["places_available"], one["open_for_prescription"]) == (7, 993, True)
    assert await listed(departement="85") == [str(prepa_85.session_id)]
    assert await listed(programme="PREPA-AVENIR") == [str(prepa_85.session_id)]
    assert await listed(pillar="visa") == [str(visa_44.session_id), str(no_place.session_id)]
    assert await listed(certification="RNCP1234") == [str(visa_44.session_id), str(no_place.session_id)]
    assert await listed(open_places="true") == [str(visa_44.session_id), str(prepa_85.session_id)]
    assert await listed(start_from=(today + timedelta(days=30)).isoformat(), start_to=(today + timedelta(days=50)).isoformat()) == [str(no_place.session_id)]
    everything = await kit.client.get("/sessions", params={"include_closed": "true", "limit": 2}, headers=kit.region)
    page = everything.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await kit.client.get("/sessions", params={"include_closed": "true", "cursor": page["next_cursor"]}, headers=kit.region)).json()
    states = {item["session_id"]: (item["recruitment_state"], item["cancelled"]) for item in page["items"] + rest["items"]}
    assert states[str(to_close.session_id)] == ("closed", False)
    assert states[str(to_cancel.session_id)][1] is True
    assert len(states) == 5


async def test_one_event_per_transition(kit):
    home = await kit.publish_session()
    other = await kit.publish_session()
    a = await kit.submit(home.session_id)
    await kit.act(a["id"], "positioning", {"date": "2030-02-01", "kind": "information_meeting"}, kit.org_a)
    await kit.act(a["id"], "waitlist", None, kit.org_a)
    await kit.act(a["id"], "admit", None, kit.org_a)
    await kit.trainee_entered(await kit.get(a["id"]), home)
    await kit.wait_status(a["id"], Status.ENTERED)

    b = await kit.submit(home.session_id)
    await kit.act(b["id"], "refuse", {"reason_code": "prerequisites_not_met", "comment": "Calcul"}, kit.org_a)
    c = (await kit.act(b["id"], "reorient", {"session_id": str(other.session_id)}, kit.prescriber_a)).json()
    await kit.act(c["id"], "withdraw", {"reason": "Reprise d'emploi"}, kit.prescriber_a)

    def kinds(events):
        return [(e.type.split(".")[-2], e.data.status) for e in events]

    events_a = await kit.events_for(a["id"], expect=5)
    assert kinds(events_a) == [
        ("submitted", "submitted"),
        ("positioning-scheduled", "positioning"),
        ("waitlisted", "waitlisted"),
        ("admitted", "admitted"),
        ("entered", "entered"),
    ]
    assert events_a[1].data.positioning_kind == "information_meeting"
    assert events_a[3].data.profile.birth_date == date(1985, 5, 12) and events_a[3].data.has_nir
    assert events_a[4].data.dossier_id is not None
    events_b = await kit.events_for(b["id"], expect=3)
    assert kinds(events_b) == [("submitted", "submitted"), ("refused", "refused"), ("reoriented", "refused")]
    assert events_b[1].data.reason_code == "prerequisites_not_met"
    assert str(events_b[2].data.new_prescription_id) == c["id"] and events_b[2].data.new_session_id == other.session_id
    events_c = await kit.events_for(c["id"], expect=2)
    assert kinds(events_c) == [("submitted", "submitted"), ("withdrawn", "withdrawn")]
    assert str(events_c[0].data.previous_prescription_id) == b["id"]

    for envelope in events_a + events_b + events_c:
        assert envelope.source == "/pacte/orientation" and envelope.subject == str(envelope.data.prescription_id)
        body = envelope.body().decode()
        # no NIR field (only the has_nir flag) and no NIR digits: sealed values are random
        # base64, so a bare substring test would also match "nir" inside one
        assert set(re.findall(r'"(\w*nir\w*)"\s*:', body, flags=re.IGNORECASE)) <= {"has_nir"}
        assert not re.search(r"[12]\d{14}", body)
        assert "Martin" not in body  # no name in clear either


async def test_idempotent_creation_publishes_once(kit):
    session = await kit.publish_session()
    body = kit.body(session.session_id)
    headers = {**kit.prescriber_a, "Idempotency-Key": str(uuid.uuid4())}
    first = await kit.client.post("/prescriptions", json=body, headers=headers)
    second = await kit.client.post("/prescriptions", json=body, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    events = await kit.events_for(first.json()["id"], expect=1)
    assert len(events) == 1


async def test_expiry_job(kit_with):
    async with kit_with(expiry_check_interval_s=0.05) as kit:
        session = await kit.publish_session()
        overdue = await kit.submit(session.session_id)
        overdue_positioned = await kit.drive(Status.POSITIONING, session)
        fresh = await kit.submit(session.session_id)
        answered = await kit.drive(Status.ADMITTED, session)
        assert fresh["expires_at"] is not None and answered["expires_at"] is None
        for prescription in (overdue, overdue_positioned, answered):
            await kit.backdate(prescription["id"])

        await kit.wait_status(overdue["id"], Status.EXPIRED)
        await kit.wait_status(overdue_positioned["id"], Status.EXPIRED)
        assert (await kit.get(fresh["id"]))["status"] == "submitted"
        assert (await kit.get(answered["id"]))["status"] == "admitted"
        history = (await kit.client.get(f"/prescriptions/{overdue['id']}/history", headers=kit.prescriber_a)).json()
        last = history["items"][-1]
        assert (last["action"], last["actor"], last["from_status"], last["to_status"]) == ("expire", "system:expiry", "submitted", "expired")
        events = await kit.events_for(overdue["id"], expect=2)
        assert [e.type.split(".")[-2] for e in events] == ["submitted", "expired"]


async def test_entered_from_a_trainee_event_delivered_twice(kit):
    session = await kit.publish_session()
    admitted = await kit.drive(Status.ADMITTED, session)
    dossier = kit.dossier(admitted, session)
    event_id = str(uuid.uuid4())
    await kit.trainee_entered(admitted, session, dossier=dossier, event_id=event_id)
    await kit.trainee_entered(admitted, session, dossier=dossier, event_id=event_id)  # redelivered
    await kit.trainee_entered(admitted, session, dossier=dossier)  # told again, as a new event
    # a marker on the same key (same partition, so handled after the three above)
    marker = await kit.drive(Status.ADMITTED, session)
    marker_event = TraineeEntered(
        dossier=kit.dossier(marker, session), occurred_at=utcnow(), actor="training_org:x", entry_date=date.today()
    )
    await kit.publish(marker_event, str(dossier.dossier_id))
    await kit.wait_status(marker["id"], Status.ENTERED)

    entered = await kit.get(admitted["id"])
    assert entered["status"] == "entered" and entered["dossier_id"] == str(dossier.dossier_id)
    history = (await kit.client.get(f"/prescriptions/{admitted['id']}/history", headers=kit.region)).json()
    assert [item["action"] for item in history["items"]] == ["submit", "admit", "enter"]
    events = await kit.events_for(admitted["id"], expect=3)
    assert [e.type.split(".")[-2] for e in events] == ["submitted", "admitted", "entered"]


async def test_admission_cancelled_when_sessions_cancels_the_file(kit):
    session = await kit.publish_session()
    before_entry = await kit.drive(Status.ADMITTED, session)
    await kit.trainee_cancelled(before_entry, session)
    await kit.wait_status(before_entry["id"], Status.ADMISSION_CANCELLED)
    after_entry = await kit.drive(Status.ENTERED, session)
    await kit.trainee_cancelled(after_entry, session)
    await kit.wait_status(after_entry["id"], Status.ADMISSION_CANCELLED)
    events = await kit.events_for(before_entry["id"], expect=3)
    assert [e.type.split(".")[-2] for e in events] == ["submitted", "admitted", "admission-cancelled"]


async def test_a_full_session_counts_our_admissions_until_their_entry(kit):
    session = await kit.publish_session(places=2, places_taken=0)
    first = await kit.drive(Status.ADMITTED, session)
    second = await kit.submit(session.session_id)
    # sessions opened the first file: an opened file holds no place there (only an entry
    # does, sessions.domain.training.holds_place), so orientation still counts the admission
    await kit.publish(
        TraineeEnrolled(dossier=kit.dossier(first, session, entry_date=None), occurred_at=utcnow(), actor="sessions"),
        "d1",
    )

    async def file_opened():
        return (await kit.get(first["id"]))["dossier_id"] is not None

    await eventually(file_opened, message="enrolment seen")
    assert (await kit.act(second["id"], "admit", None, kit.org_a)).status_code == 200
    third = await kit.submit(session.session_id)
    assert (await kit.act(third["id"], "admit", None, kit.org_a)).status_code == 409

    # The first enters: sessions takes its place (the entry carries the session as it left it);
    # orientation stops counting the admission at the same time, so the place counts once.
    after_entry = session.model_copy(update={"places_taken": 1, "version": 2})
    opened = await kit.get(first["id"])
    await kit.trainee_entered(opened, after_entry, dossier=kit.dossier(opened, after_entry))
    await kit.wait_status(first["id"], Status.ENTERED)
    catalogue = (await kit.client.get(f"/sessions/{session.session_id}", headers=kit.region)).json()
    assert catalogue["places_taken"] == 1
    assert (await kit.act(third["id"], "admit", None, kit.org_a)).status_code == 409
