"""Consumed events over the real broker, and the whole journey of the issue's "done when"."""

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from pacte_common.bus import ensure_topics, new_producer
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import (
    PersonIdentity,
    PersonProfile,
    open_identity,
    seal_identity,
)
from pacte_common.contracts.sessions import TraineeEnrolled, TraineeEntered, TraineeExited
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope, Topics
from pacte_testing import eventually, read_topic

SAMPLE = (Path(__file__).parent / "data" / "lheo" / "offre-pays-de-la-loire.lheo-2.3.xml").read_bytes()


def admitted(api, session_id: str, *, prescription_id=None, person_id=None, profile=None) -> PrescriptionAdmitted:
    cipher = FieldCipher(api.settings.encryption_keys, api.settings.encryption_key_id)
    identity = PersonIdentity(birth_name="Durand", first_names="Léa", nir=api.NIR)
    return PrescriptionAdmitted(
        prescription_id=prescription_id or uuid.uuid4(),
        session_id=uuid.UUID(session_id),
        person_id=person_id or uuid.uuid4(),
        prescriber_kind="france_travail",
        prescriber_code=api.PRESCRIBER,
        organisation_siret=api.SIRET_A,
        status="admitted",
        occurred_at=datetime(2025, 12, 18, 9, 30, tzinfo=UTC),
        actor=f"training_org:{api.SIRET_A}",
        profile=profile or PersonProfile(sex="F", birth_date=date(1999, 3, 2), education_level="iv", disabled_worker=True, qpv=True),
        identity_encrypted=seal_identity(cipher, identity),
        has_nir=True,
    )


async def publish(api, *envelopes: Envelope) -> None:
    topic = api.topic(Topics.PRESCRIPTIONS)
    await ensure_topics(api.settings.bus, [topic])
    producer = new_producer(api.settings.bus)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(topic, value=envelope.body(), key=str(envelope.data.prescription_id).encode(), headers=envelope.headers())
    finally:
        await producer.stop()


async def files_of(api, prescription_id) -> list[dict]:
    return (await api.ok("GET", f"/dossiers?prescription_id={prescription_id}", api.region))["items"]


async def test_admitted_delivered_twice_opens_one_file(api_consuming):
    api = api_consuming
    session = await api.catalogue()
    event = admitted(api, session["id"])
    envelope = Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id))
    republished = Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id))  # same fact, new event id
    await publish(api, envelope, envelope, republished)

    opened = await eventually(lambda: files_of(api, event.prescription_id), message="the training file")
    enrolled = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=1)
    assert len(enrolled) == 1 and isinstance(enrolled[0].data, TraineeEnrolled)
    assert len(await files_of(api, event.prescription_id)) == 1
    dossier = opened[0]
    assert (dossier["status"], dossier["person_id"], dossier["prescriber_code"]) == ("enrolled", str(event.person_id), api.PRESCRIBER)
    # The sealed identity is kept as received and passed on.
    snapshot = enrolled[0].data.dossier
    assert snapshot.identity_encrypted == event.identity_encrypted and snapshot.has_nir
    assert snapshot.prescription_id == event.prescription_id and snapshot.profile == event.profile
    # The prescriber reads the file it prescribed (masked NIR); another prescriber does not.
    mine = await api.ok("GET", f"/dossiers/{dossier['id']}", api.as_("prescriber", api.PRESCRIBER))
    assert mine["identity"]["nir_masked"] == "1************14"
    other = await api.client.get(f"/dossiers/{dossier['id']}", headers=api.as_("prescriber", "ML-49002"))
    assert other.status_code == 404
    # The consumer is still alive: a later admission opens its own file.
    later = admitted(api, session["id"])
    await publish(api, Envelope.wrap(later, source="/pacte/orientation", subject=str(later.prescription_id)))
    await eventually(lambda: files_of(api, later.prescription_id), message="the second file")


async def test_journey_from_lheo_to_indicators(api_consuming):
    """The Region imports the offer; an admission opens a file; the organisation declares its life."""
    api = api_consuming
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("VISA-METIERS", "visa"))
    await api.ok("POST", "/programmes", api.region, 201, json=api.programme_body("PREPA-CLES", "prepa"))
    await api.ok("POST", "/catalogue/lheo", {**api.region, "Content-Type": "application/xml"}, content=SAMPLE)
    sessions = (await api.ok("GET", "/sessions?programme=VISA-METIERS&departement=44", api.org))["items"]
    session = next(s for s in sessions if s["recruitment_state"] == "open")

    event = admitted(api, session["id"])
    await publish(api, Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id)))
    dossier = (await eventually(lambda: files_of(api, event.prescription_id), message="the file"))[0]
    did = dossier["id"]

    api.clock.today = date(2026, 1, 7)
    await api.act(did, "enter", {"entry_date": "2026-01-05"})
    await api.act(did, "interrupt", {"start_date": "2026-02-09", "reason": "employment", "expected_return_date": "2026-02-23"})
    await api.act(did, "resume", {"resumption_date": "2026-02-23"})
    api.clock.today = date(2026, 3, 31)  # a month's statement is made once it has begun
    for month, attended in (("2026-01", "130"), ("2026-02", "90"), ("2026-03", "140")):
        await api.ok("PUT", f"/dossiers/{did}/attendance/{month}", api.org, 201, json={
            "planned_hours": "140", "attended_hours": attended, "justified_absence_hours": "0",
            "unjustified_absence_hours": "0", "in_company_hours": "0",
        })
    api.clock.today = date(2026, 4, 1)
    exited = await api.act(did, "exit", {
        "exit_date": "2026-03-31", "kind": "completed",
        "certification_result": "partial", "skill_blocks_obtained": ["RNCP34174BC01", "RNCP34174BC02"],
    })
    assert (exited["realised_hours"], exited["cost"]) == ("360.00", "4500.00")  # 360 h × 12.50 €

    events = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=5)
    assert [e.type for e in events] == [
        "fr.paysdelaloire.pacte.trainee.enrolled.v1",
        "fr.paysdelaloire.pacte.trainee.entered.v1",
        "fr.paysdelaloire.pacte.trainee.interrupted.v1",
        "fr.paysdelaloire.pacte.trainee.resumed.v1",
        "fr.paysdelaloire.pacte.trainee.exited.v1",
    ]
    assert [e.data.dossier.version for e in events] == [1, 2, 3, 4, 5]
    assert {e.subject for e in events} == {did}
    entered = next(e.data for e in events if isinstance(e.data, TraineeEntered))
    assert entered.dossier.session.programme.code == "VISA-METIERS" and entered.dossier.session.hourly_price == 12.5
    exit_event = next(e.data for e in events if isinstance(e.data, TraineeExited))
    assert exit_event.cost == 4500 and exit_event.skill_blocks_obtained == ["RNCP34174BC01", "RNCP34174BC02"]
    cipher = FieldCipher(api.settings.encryption_keys, api.settings.encryption_key_id)
    assert open_identity(cipher, exit_event.dossier.identity_encrypted).nir == api.NIR  # for the AGORA gateway
    attendance = await read_topic(api.settings.bus, api.topic(Topics.ATTENDANCE), expect=3)
    assert [e.data.month for e in attendance] == ["2026-01", "2026-02", "2026-03"]
