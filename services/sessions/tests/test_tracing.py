"""One trace per journey: every trainee and attendance event of a training file carries the
trace of what opened it (the admitted event, or the direct enrolment's POST), whichever later
request acts on it; catalogue events keep the trace of the request that caused them."""

import os
import uuid
from datetime import UTC, date, datetime

from pacte_common.bus import ensure_topics, new_producer
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope, Topics
from pacte_common.tracing import trace_id_of
from pacte_testing import eventually, read_topic

OTHER_NIR = "292064410945680"

STATEMENT = {
    "planned_hours": "140",
    "attended_hours": "119",
    "justified_absence_hours": "7",
    "unjustified_absence_hours": "3.5",
    "in_company_hours": "10.5",
}


def new_trace() -> tuple[str, str]:
    """(traceparent, its trace id)."""
    trace_id = os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-01", trace_id


def traced(headers: dict, traceparent: str) -> dict:
    return {**headers, "traceparent": traceparent}


async def admitted_with_trace(api, session_id: str, traceparent: str) -> PrescriptionAdmitted:
    """Orientation admits a prescription: a real CloudEvent carrying `traceparent` on the real topic."""
    cipher = FieldCipher(api.settings.encryption_keys, api.settings.encryption_key_id)
    event = PrescriptionAdmitted(
        prescription_id=uuid.uuid4(),
        session_id=uuid.UUID(session_id),
        person_id=uuid.uuid4(),
        prescriber_kind="france_travail",
        prescriber_code=api.PRESCRIBER,
        organisation_siret=api.SIRET_A,
        status="admitted",
        occurred_at=datetime(2025, 12, 18, 9, 30, tzinfo=UTC),
        actor=f"training_org:{api.SIRET_A}",
        profile=PersonProfile(sex="F", birth_date=date(1999, 3, 2), education_level="iv"),
        identity_encrypted=seal_identity(cipher, PersonIdentity(birth_name="Durand", first_names="Léa", nir=api.NIR)),
        has_nir=True,
    )
    envelope = Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id), traceparent=traceparent)
    topic = api.topic(Topics.PRESCRIPTIONS)
    await ensure_topics(api.settings.bus, [topic])
    producer = new_producer(api.settings.bus)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=envelope.body(), key=str(event.prescription_id).encode(), headers=envelope.headers())
    finally:
        await producer.stop()
    return event


async def test_every_event_of_a_file_carries_the_trace_of_what_opened_it(api_consuming):
    api = api_consuming
    session = await api.catalogue(places=12)

    # A file opened by an admitted prescription keeps the trace of the consumed event.
    admitted_tp, admitted_trace = new_trace()
    event = await admitted_with_trace(api, session["id"], admitted_tp)

    async def opened():
        return (await api.ok("GET", f"/dossiers?prescription_id={event.prescription_id}", api.region))["items"]

    from_admission = (await eventually(opened, message="the file opened by the admission"))[0]
    assert from_admission["trace_id"] == admitted_trace

    # The person admitted above is known by a keyed hash of her NIR: enrolling her again
    # directly in the same session is the same person, refused.
    again = await api.client.post(
        "/dossiers", headers=api.org,
        json={"session_id": session["id"], "profile": api.profile_body(), "identity": api.identity_body(api.NIR)},
    )
    assert again.status_code == 409 and again.json()["detail"] == "this person already has a training file in this session"

    # A file opened by a direct enrolment keeps the trace of its POST.
    enrol_tp, enrol_trace = new_trace()
    enrolled = await api.client.post(
        "/dossiers",
        headers=traced(api.org, enrol_tp),
        # another person: the admitted one above is recognised by her NIR
        json={"session_id": session["id"], "profile": api.profile_body(), "identity": api.identity_body(OTHER_NIR)},
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.headers["traceparent"] == enrol_tp and enrolled.json()["trace_id"] == enrol_trace
    direct = enrolled.json()

    # Later requests, each in a trace of its own, act on both files.
    entry_tp, entry_trace = new_trace()
    for dossier in (from_admission, direct):
        answer = await api.client.post(f"/dossiers/{dossier['id']}/entry", headers=traced(api.org, entry_tp), json={"entry_date": "2026-01-05"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["traceparent"] == entry_tp
    await api.ok("PUT", f"/dossiers/{direct['id']}/attendance/2026-01", traced(api.org, new_trace()[0]), json=STATEMENT, expected=201)
    corrected = {**STATEMENT, "attended_hours": "112", "unjustified_absence_hours": "10.5"}
    await api.ok("PUT", f"/dossiers/{direct['id']}/attendance/2026-01", traced(api.org, new_trace()[0]), json=corrected)
    await api.ok("POST", f"/dossiers/{from_admission['id']}/cancel", traced(api.org, new_trace()[0]), json={"reason": "declared by mistake"})

    trainees = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=5)
    by_file: dict[str, list[tuple[str, str | None]]] = {}
    for envelope in trainees:
        by_file.setdefault(envelope.subject, []).append((envelope.type.split(".")[-2], trace_id_of(envelope.traceparent)))
    assert by_file == {
        from_admission["id"]: [("enrolled", admitted_trace), ("entered", admitted_trace), ("cancelled", admitted_trace)],
        direct["id"]: [("enrolled", enrol_trace), ("entered", enrol_trace)],
    }
    attendance = await read_topic(api.settings.bus, api.topic(Topics.ATTENDANCE), expect=2)
    assert [(e.data.version, trace_id_of(e.traceparent)) for e in attendance] == [(1, enrol_trace), (2, enrol_trace)]
    assert all(e.traceparent not in (admitted_tp, enrol_tp) for e in trainees + attendance)  # spans of their own

    # Catalogue events are not a file's: the entries' places update stays in the entry request's trace.
    catalogue = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=3)
    assert entry_trace in {trace_id_of(e.traceparent) for e in catalogue}
    assert {admitted_trace, enrol_trace}.isdisjoint(trace_id_of(e.traceparent) for e in catalogue)

    # The API shows each file's trace whoever asks, in whichever trace.
    again = await api.ok("GET", f"/dossiers/{direct['id']}", traced(api.region, new_trace()[0]))
    assert again["trace_id"] == enrol_trace
