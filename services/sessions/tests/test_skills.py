"""The skills passport: certification results and skill blocks obtained, read by the Region
and the person's current prescriber only."""

import uuid
from datetime import UTC, date, datetime

from pacte_common.bus import ensure_topics, new_producer
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope, Topics
from pacte_testing import eventually


async def admit(api, session_id: str, person_id: uuid.UUID, prescriber: str, day: int) -> dict:
    """A prescriber's admission, as orientation publishes it; returns the file it opens."""
    cipher = FieldCipher(api.settings.encryption_keys, api.settings.encryption_key_id)
    event = PrescriptionAdmitted(
        prescription_id=uuid.uuid4(), session_id=uuid.UUID(session_id), person_id=person_id,
        prescriber_kind="france_travail" if prescriber.startswith("PE") else "mission_locale", prescriber_code=prescriber,
        organisation_siret=api.SIRET_A, status="admitted", occurred_at=datetime(2025, 12, day, 9, 30, tzinfo=UTC),
        actor=f"training_org:{api.SIRET_A}",
        profile=PersonProfile(sex="F", birth_date=date(1999, 3, 2), education_level="iv", disabled_worker=False, qpv=False),
        identity_encrypted=seal_identity(cipher, PersonIdentity(birth_name="Durand", first_names="Léa")), has_nir=False,
    )
    topic = api.topic(Topics.PRESCRIPTIONS)
    await ensure_topics(api.settings.bus, [topic])
    producer = new_producer(api.settings.bus)
    await producer.start()
    try:
        envelope = Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id))
        await producer.send_and_wait(topic, value=envelope.body(), key=str(event.prescription_id).encode(), headers=envelope.headers())
    finally:
        await producer.stop()

    async def opened():
        return (await api.ok("GET", f"/dossiers?prescription_id={event.prescription_id}", api.region))["items"]

    return (await eventually(opened, message="the training file"))[0]


async def test_passport_read_by_the_region_and_the_current_prescriber_only(api_consuming):
    api = api_consuming
    person = uuid.uuid4()
    visa = await api.catalogue(skill_blocks=["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"])
    first = await admit(api, visa["id"], person, "PE-44001", 1)
    await api.act(first["id"], "enter", {"entry_date": "2026-01-05"})
    await api.act(first["id"], "exit", {"exit_date": "2026-01-06", "kind": "completed", "certification_result": "partial",
                                        "skill_blocks_obtained": ["RNCP34174BC02", "RNCP34174BC01"]})

    passport = await api.ok("GET", f"/people/{person}/skills", api.region)
    assert passport["current_prescriber"] == "PE-44001"
    assert passport["skill_blocks_obtained"] == ["RNCP34174BC01", "RNCP34174BC02"]
    [certification] = passport["certifications"]
    assert certification["certification_result"] == "partial" and certification["rncp_code"] == "RNCP34174"
    assert certification["skill_blocks_offered"] == ["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"]
    assert (await api.ok("GET", f"/people/{person}/skills", api.as_("prescriber", "PE-44001")))["skill_blocks_obtained"]

    foreign = await api.client.get(f"/people/{person}/skills", headers=api.as_("prescriber", "ML-49002"))
    assert foreign.status_code == 404  # a foreign prescriber sees nothing, not even that the person exists
    assert (await api.client.get(f"/people/{person}/skills", headers=api.org)).status_code == 403
    assert (await api.client.get(f"/people/{uuid.uuid4()}/skills", headers=api.region)).status_code == 404

    # A Mission locale prescribes the next training: it becomes the current prescriber.
    second_session = await api.catalogue()
    await admit(api, second_session["id"], person, "ML-49002", 20)
    assert (await api.ok("GET", f"/people/{person}/skills", api.as_("prescriber", "ML-49002")))["current_prescriber"] == "ML-49002"
    former = await api.client.get(f"/people/{person}/skills", headers=api.as_("prescriber", "PE-44001"))
    assert former.status_code == 404
    # a certification obtained in full gives every block of its training
    second = (await api.ok("GET", f"/dossiers?person_id={person}", api.region))["items"]
    later = next(d for d in second if d["session_id"] == second_session["id"])
    await api.act(later["id"], "enter", {"entry_date": "2026-01-07"})
    await api.act(later["id"], "exit", {"exit_date": "2026-01-08", "kind": "completed", "certification_result": "obtained"})
    full = await api.ok("GET", f"/people/{person}/skills", api.region)
    assert full["skill_blocks_obtained"] == ["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"]
    assert [c["certification_result"] for c in full["certifications"]] == ["partial", "obtained"]
